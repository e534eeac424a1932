"""COCO: CrossKD for Mask R-CNN R50-FPN from the zoo's Mask R-CNN R101-FPN teacher.

The paper has no two-stage or mask detector: this is relkd's ROI box-head design of
`faster_rcnn_R50_crosskd.py` (the student's first fc block into the teacher's second fc block
and box predictor, weight 1 and 1), unchanged; the mask head is not crossed.
"""

from .faster_rcnn_R50_crosskd import model as _boxes
from .mask_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .teachers.mask_rcnn_R101_FPN_3x import WEIGHTS
from .teachers.mask_rcnn_R101_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
model.distillers = _boxes.distillers
train.output_dir = "output/coco/mask_rcnn_R50_crosskd"
