"""COCO: PKD for Faster R-CNN R50-FPN from the zoo's Faster R-CNN R101-FPN teacher, the official
pairing (MMRazor's pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco: 38.4 -> 40.3 AP, 2x).

The official setting: the first four FPN levels (p2-p5), weight 6 per level.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import PKD

from .faster_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .teachers.faster_rcnn_R101_FPN_3x import WEIGHTS
from .teachers.faster_rcnn_R101_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
model.distillers = [L(PKD)(student_features=["p2", "p3", "p4", "p5"], loss_weight=6.0)]
train.output_dir = "output/coco/faster_rcnn_R50_pkd"
