"""digits_det: the ResNet-18 Mask R-CNN student distilled from the ResNet-50 Mask R-CNN teacher
with FeatureMSE on the fine FPN levels.

The distiller and its weights are those of `faster_rcnn_R18_feature_mse.py`: the two students share
their backbone, FPN and RPN, and what the distiller reads (backbone features, the RPN's anchors,
the GT boxes) is the same in both.
"""

from .faster_rcnn_R18_feature_mse import model as _boxes
from .mask_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = _boxes.distillers
train.output_dir = "output/digits/mask_rcnn_R18_feature_mse"
