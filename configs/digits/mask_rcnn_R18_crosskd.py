"""digits_det: the ResNet-18 Mask R-CNN student distilled from the ResNet-50 Mask R-CNN teacher
with CrossKDROI: crossed inside the ROI box head (the mask head is not crossed).

The distiller and its weights are those of `faster_rcnn_R18_crosskd.py`: the two students share
their backbone, FPN, RPN and box head, and what the distiller reads is the same in both. Those
weights were set from Faster R-CNN's start-of-training gradient ratio; the mask loss adds to the
detection gradient, so the ratio is somewhat lower here.
"""

from .faster_rcnn_R18_crosskd import model as _boxes
from .mask_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = _boxes.distillers
train.output_dir = "output/digits/mask_rcnn_R18_crosskd"
