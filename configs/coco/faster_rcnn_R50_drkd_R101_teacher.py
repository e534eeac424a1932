"""COCO: DRKD for Faster R-CNN R50-FPN from the zoo's Faster R-CNN R101-FPN teacher (42.0 AP),
a cheaper teacher than the X101-32x8d one of ``faster_rcnn_R50_drkd.py``: its forward costs
about half as much. The pairing of relkd's COCO-size overhead table (BENCHMARKS.md)."""

from .faster_rcnn_R50_drkd import dataloader, lr_multiplier, model, optimizer, train
from .teachers.faster_rcnn_R101_FPN_3x import WEIGHTS
from .teachers.faster_rcnn_R101_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
train.output_dir = "output/coco/faster_rcnn_R50_drkd_R101_teacher"
