"""COCO distillation base for Mask R-CNN: the R50-FPN Mask R-CNN student (`common/coco_train.py`
with the instance masks loaded, as the model zoo's Mask R-CNN dataloader does) and the zoo's
Mask R-CNN X101-32x8d-FPN teacher (`teachers/mask_rcnn_X101_32x8d_FPN_3x.py`; the pairing of
`faster_rcnn_R50_distill_base.py`), with no distillers. Each method config sets them (FGFI
swaps in the R101 teacher). COCOEvaluator reports box and mask AP (it evaluates `segm` for a
model that predicts masks)."""

from detectron2.config import LazyCall as L

from relkd import DistillRCNN, Teacher

from ..common.coco_train import dataloader, lr_multiplier, optimizer, train
from ..common.models.coco import mask_rcnn
from .teachers.mask_rcnn_X101_32x8d_FPN_3x import WEIGHTS
from .teachers.mask_rcnn_X101_32x8d_FPN_3x import model as _teacher

dataloader.train.mapper.use_instance_mask = True
model = mask_rcnn(depth=50)
model._target_ = DistillRCNN
model.teacher = L(Teacher)(model=_teacher, weights=WEIGHTS)
model.distillers = []
train.output_dir = "output/coco/mask_rcnn_R50_distill_base"
