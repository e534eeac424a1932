"""digits_det: the ResNet-18 Mask R-CNN student distilled from the ResNet-50 Mask R-CNN teacher
with FGD: p2-p5 at the official weights, its boxes from the GT boxes as the paper's (not from
instance masks).

The distiller and its weights are those of `faster_rcnn_R18_fgd.py`: the two students share
their backbone, FPN, RPN and box head, and what the distiller reads is the same in both. Those
weights were set from Faster R-CNN's start-of-training gradient ratio; the mask loss adds to the
detection gradient, so the ratio is somewhat lower here.
"""

from .faster_rcnn_R18_fgd import model as _boxes
from .mask_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = _boxes.distillers
train.output_dir = "output/digits/mask_rcnn_R18_fgd"
