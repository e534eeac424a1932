"""digits_det: ResNet-18 RetinaNet student distilled with DRKD from the ResNet-50 teacher.

GloRe pixel relations on p3-p7, instance relation and instance terms on p3 and p4. The weights
are the flagged RetinaNet values of the official single-stage file (METHODS.md 2.9).
"""

from detectron2.config import LazyCall as L

from relkd.distillers import DRKD

from .retinanet_R18_feature_mse import dataloader, lr_multiplier, model, optimizer, train

DIGITS_NODES = (64, 64, 64, 64, 64)

# The code's weights are kept although the terms read large on digits_det (at the start of
# training against the trained teacher: pixel about 40, relation 19, instance 22, against 1.8
# for the detection losses). With the code's unsquared Frobenius norm the gradient of each term
# has norm exactly its weight, whatever the distance, so the large values are an offset in
# `total_loss`, not large gradients (unlike the squared FGFI/FeatureMSE terms).
# Node counts: 64 on every level, not the code's (64, 64, 256, 256, 256), which were sized for
# COCO. On 128-px digits images p5, p6 and p7 hold 16, 4 and 1 pixels; a GloRe unit's node
# features (states @ proj^T) have rank <= the pixel count, so nodes beyond it add no rank, while
# the node-space products grow as m^3: at 256 nodes those three units took 545 of the pixel
# term's 561 ms per step (BENCHMARKS.md, overhead section).
model.distillers = [
    L(DRKD)(pr_weight=4e-3, ir_weight=5e-3, ins_weight=6e-3, num_nodes=DIGITS_NODES)
]
train.output_dir = "output/digits/retinanet_R18_drkd"
