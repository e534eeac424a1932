"""digits_det: ResNet-18 Faster R-CNN student distilled with FGFI from the ResNet-50 teacher.

The mask comes from the RPN's anchors on p2-p6 (each GT's max IoU over all of them); no adapter
ReLU on signed FPN outputs; the official 400-iteration warm-up. Levels and lambda: docs/
distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import FGFI

from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

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
