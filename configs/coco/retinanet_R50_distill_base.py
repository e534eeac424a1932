"""COCO distillation base for RetinaNet: the R50-FPN student (detectron2's 1x-style schedule of
`common/coco_train.py` at lr 0.01) and the zoo's RetinaNet R101-FPN teacher
(`teachers/retinanet_R101_FPN_3x.py`; DRKD's RetinaNet pairing uses an X101 teacher, and the
zoo's largest RetinaNet is R101), with no distillers. Each method config sets them."""

from detectron2.config import LazyCall as L

from relkd import DistillRetinaNet, Teacher

from ..common.coco_train import dataloader, lr_multiplier, optimizer, train
from ..common.models.coco import retinanet
from .teachers.retinanet_R101_FPN_3x import WEIGHTS
from .teachers.retinanet_R101_FPN_3x import model as _teacher

model = retinanet(depth=50)
model._target_ = DistillRetinaNet
model.teacher = L(Teacher)(model=_teacher, weights=WEIGHTS)
model.distillers = []
optimizer.lr = 0.01
train.output_dir = "output/coco/retinanet_R50_distill_base"
