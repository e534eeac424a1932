"""digits_det: the ResNet-18 Faster R-CNN student distilled from the ResNet-50 teacher with FGD.

The FPN conv outputs p2-p5 (not the max-pooled p6) at the official Faster R-CNN weights:
temperature 0.5, alpha 5e-5, beta 2.5e-5, gamma 5e-5, lambda 5e-7 (loss_weight 1). At the
start of training the FGD terms sum to 8-18 against detection 3.0, and their gradient on the
student is 0.89-1.31 times the detection losses'. docs/distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import FGD

from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [
    L(FGD)(
        student_features=["p2", "p3", "p4", "p5"],
        temperature=0.5,
        alpha=5e-5,
        beta=2.5e-5,
        gamma=5e-5,
        lambda_=5e-7,
    )
]
train.output_dir = "output/digits/faster_rcnn_R18_fgd"
