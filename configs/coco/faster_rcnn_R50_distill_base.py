"""COCO distillation base for Faster R-CNN: the R50-FPN student (`common/coco_train.py`) and
the zoo's Faster R-CNN X101-32x8d-FPN teacher (`teachers/faster_rcnn_X101_32x8d_FPN_3x.py`, the
pairing DRKD uses: ResNeXt-101 teacher, R50 student), with no distillers. Each method config
sets them (FGFI swaps in the R101 teacher)."""

from detectron2.config import LazyCall as L

from relkd import DistillRCNN, Teacher

from ..common.coco_train import dataloader, lr_multiplier, optimizer, train
from ..common.models.coco import faster_rcnn
from .teachers.faster_rcnn_X101_32x8d_FPN_3x import WEIGHTS
from .teachers.faster_rcnn_X101_32x8d_FPN_3x import model as _teacher

model = faster_rcnn(depth=50)
model._target_ = DistillRCNN
model.teacher = L(Teacher)(model=_teacher, weights=WEIGHTS)
model.distillers = []
train.output_dir = "output/coco/faster_rcnn_R50_distill_base"
