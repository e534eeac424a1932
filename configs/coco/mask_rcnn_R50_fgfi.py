"""COCO: Mask R-CNN R50-FPN student with FGFI from the zoo's Mask R-CNN R101-FPN teacher.

The distiller of `faster_rcnn_R50_fgfi.py`, the paper's weights and its R101-teacher pairing:
the imitation mask comes from the RPN's anchors and the GT boxes, not from instance masks.
"""

from .faster_rcnn_R50_fgfi import model as _boxes
from .mask_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .teachers.mask_rcnn_R101_FPN_3x import WEIGHTS
from .teachers.mask_rcnn_R101_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
model.distillers = _boxes.distillers
train.output_dir = "output/coco/mask_rcnn_R50_fgfi"
