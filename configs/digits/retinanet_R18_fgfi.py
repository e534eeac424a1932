"""digits_det: ResNet-18 RetinaNet student distilled with FGFI from the ResNet-50 teacher.

The mask comes from the head's anchors on p2-p6 (each GT's max IoU over all of them); the
adapter has no ReLU because FPN outputs are signed (METHODS.md 1.8); 400-iteration warm-up as
in the official code.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import FGFI

from .retinanet_R18_feature_mse import dataloader, lr_multiplier, model, optimizer, train

# Calibrated for digits_det (the code's COCO lambda does not transfer): against the trained
# teacher, at the start of training, the imitation term with lambda 0.01 on p3-p7 is about 11-15
# (the detection losses sum to about 1.8), and a masked p6 cell alone adds 6e4 to the squared
# sum because a from-scratch FPN's p6/p7 have RMS 30-200 against 4 on p3-p5. Imitate p3-p5
# and use lambda 1e-3: the term then starts near 1.1, next to the detection loss. With the
# stride-4 p2 level (common/models/digits.py), p2 joins: most digits are matched there, and the
# loss is a mean over masked cells, so one more level does not change its scale.
model.distillers = [
    L(FGFI)(
        features=["p2", "p3", "p4", "p5"],
        psi=0.5,
        loss_weight=1e-3,
        warmup_iters=400,
        adapter_relu=False,
    )
]
train.output_dir = "output/digits/retinanet_R18_fgfi"
