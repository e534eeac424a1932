"""COCO: CWD for Mask R-CNN R50-FPN from the zoo's Mask R-CNN R101-FPN teacher.

CWD's official code (MMRazor) has no Mask R-CNN student: this is its Faster R-CNN setting and
pairing (p2-p6, tau 1, weight 10 per level), the distiller of `faster_rcnn_R50_cwd.py`, on the
Mask R-CNN pair of the same depths.
"""

from .faster_rcnn_R50_cwd import model as _boxes
from .mask_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .teachers.mask_rcnn_R101_FPN_3x import WEIGHTS
from .teachers.mask_rcnn_R101_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
model.distillers = _boxes.distillers
train.output_dir = "output/coco/mask_rcnn_R50_cwd"
