"""digits_det: the ResNet-18 RetinaNet student distilled from the ResNet-50 teacher with FGD.

Every FPN level (p2-p6) with the official RetinaNet part weights: temperature 0.5, alpha 1e-3,
beta 5e-4, gamma 5e-4, lambda 5e-6. At the official loss_weight of 1 the FGD terms sum to
154-200 at the start of training (mostly the focal parts) against detection 3.4-4.4, and their
gradient on the student is 383-509 times the detection losses'; loss_weight 2e-3 puts that
ratio at 0.77-1.02, near relkd's default of 0.8. docs/distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import FGD

from .retinanet_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [
    L(FGD)(
        student_features=["p2", "p3", "p4", "p5", "p6"],
        temperature=0.5,
        alpha=1e-3,
        beta=5e-4,
        gamma=5e-4,
        lambda_=5e-6,
        loss_weight=2e-3,
    )
]
train.output_dir = "output/digits/retinanet_R18_fgd"
