"""COCO: CWD for Faster R-CNN R50-FPN from the zoo's Faster R-CNN R101-FPN teacher, the official
pairing (MMRazor's cwd_fpn_frcnn_r101_frcnn_r50_1x_coco; relkd keeps its base's schedule).

The official setting: every FPN level (p2-p6), tau 1, weight 10 per level.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import CWD

from .faster_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .teachers.faster_rcnn_R101_FPN_3x import WEIGHTS
from .teachers.faster_rcnn_R101_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
model.distillers = [
    L(CWD)(student_features=["p2", "p3", "p4", "p5", "p6"], tau=1.0, loss_weight=10.0)
]
train.output_dir = "output/coco/faster_rcnn_R50_cwd"
