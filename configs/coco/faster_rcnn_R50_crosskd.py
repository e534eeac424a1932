"""COCO: CrossKD for Faster R-CNN R50-FPN from the zoo's Faster R-CNN R101-FPN teacher, the
depths of the RetinaNet config's pair (PKD's and CWD's Faster R-CNN configs swap it in too; the
base's X101-32x8d teacher has a box head as wide and would cross as well).

The paper gives no two-stage details: relkd crosses inside the ROI box head, the student's first
fc block (1024 wide) into the teacher's second fc block and box predictor, with a softmax KL
(T = 1) for the classes and GIoU for the boxes of the teacher's most likely class, weight 1
each; docs/methods.md, "CrossKD".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import CrossKDROI

from .faster_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .teachers.faster_rcnn_R101_FPN_3x import WEIGHTS
from .teachers.faster_rcnn_R101_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
model.distillers = [L(CrossKDROI)(cross_after=1)]
train.output_dir = "output/coco/faster_rcnn_R50_crosskd"
