"""digits_det: ResNet-18 Faster R-CNN student distilled with FGFI from the ResNet-50 teacher.

The mask comes from the RPN's anchors on p2-p6; no adapter ReLU on signed FPN outputs.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import FGFI

from .faster_rcnn_R18_feature_mse import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(FGFI)(psi=0.5, loss_weight=0.01, warmup_iters=400, adapter_relu=False)]
train.output_dir = "output/digits/faster_rcnn_R18_fgfi"
