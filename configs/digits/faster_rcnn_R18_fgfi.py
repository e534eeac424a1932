"""digits_det: ResNet-18 Faster R-CNN student distilled with FGFI from the ResNet-50 teacher.

The mask comes from the RPN's anchors on p2-p6 (each GT's max IoU over all of them); no
adapter ReLU on signed FPN outputs; 400-iteration warm-up as in the official code.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import FGFI

from .faster_rcnn_R18_feature_mse import dataloader, lr_multiplier, model, optimizer, train

# Calibrated for digits_det as for RetinaNet (see retinanet_R18_fgfi.py): imitate p2-p5, not
# the from-scratch p6 whose magnitudes are an order larger, with lambda 1e-3 instead of the
# code's 0.01, which puts the term near the detection losses at the start of training.
model.distillers = [
    L(FGFI)(
        features=["p2", "p3", "p4", "p5"],
        psi=0.5,
        loss_weight=1e-3,
        warmup_iters=400,
        adapter_relu=False,
    )
]
train.output_dir = "output/digits/faster_rcnn_R18_fgfi"
