"""COCO: Faster R-CNN R50-FPN student with FGFI from the zoo's Faster R-CNN R101-FPN teacher.

FGFI's paper setting is single-level (VGG conv5 / ResNet res4, stride 16). On FPN the mask
uses the RPN anchors of all levels with the global max IoU, and the adapters drop the ReLU.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import FGFI

from .faster_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .teachers.faster_rcnn_R101_FPN_3x import WEIGHTS
from .teachers.faster_rcnn_R101_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
model.distillers = [L(FGFI)(psi=0.5, loss_weight=0.01, warmup_iters=400, adapter_relu=False)]
train.output_dir = "output/coco/faster_rcnn_R50_fgfi"
