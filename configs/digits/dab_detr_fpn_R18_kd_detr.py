"""digits_det: KD-DETR, with the points and weights of `dab_detr_R18_kd_detr.py`, from the
DAB-DETR R50 teacher into the DAB-DETR R18 student on the Faster R-CNN R18 student's frozen
FPN p3 (`dab_detr_fpn_R18_student.py`)."""

from .dab_detr_fpn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .dab_detr_R18_kd_detr import model as _kd

model.distillers = _kd.distillers
train.output_dir = "output/digits/dab_detr_fpn_R18_kd_detr"
