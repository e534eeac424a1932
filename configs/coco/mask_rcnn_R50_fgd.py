"""COCO: FGD for Mask R-CNN R50-FPN from the zoo's Mask R-CNN R101-FPN teacher, the official
pairing (yzd-v/FGD fgd_mask_rcnn_r101_fpn_distill_mask_rcnn_r50_fpn_2x_coco, 2x).

The official setting, as its Faster R-CNN one: the FPN conv outputs p2-p5, temperature 0.5,
alpha 5e-5, beta 2.5e-5, gamma 5e-5, lambda 5e-7 per level; the foreground masks come from the
GT boxes, not from the instance masks. The distiller of `faster_rcnn_R50_fgd.py`.
"""

from .faster_rcnn_R50_fgd import model as _boxes
from .mask_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .teachers.mask_rcnn_R101_FPN_3x import WEIGHTS
from .teachers.mask_rcnn_R101_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
model.distillers = _boxes.distillers
train.output_dir = "output/coco/mask_rcnn_R50_fgd"
