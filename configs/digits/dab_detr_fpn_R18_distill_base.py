"""digits_det distillation base for the DAB-DETR student on a frozen FPN: the student of
`dab_detr_fpn_R18_student.py` and the teacher of `dab_detr_R18_distill_base.py` (the DAB-DETR
R50 on the RetinaNet teacher's frozen FPN p3), with no distillers.
`dab_detr_fpn_R18_kd_detr.py` sets KD-DETR."""

from relkd import DistillDABDETR

from .dab_detr_fpn_R18_student import dataloader, lr_multiplier, model, optimizer, train
from .dab_detr_R18_distill_base import model as _base

model._target_ = DistillDABDETR
model.teacher = _base.teacher
model.distillers = []
train.output_dir = "output/digits/dab_detr_fpn_R18_distill_base"
