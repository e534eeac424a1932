"""digits_det: ResNet-18 Faster R-CNN student distilled with DRKD from the ResNet-50 teacher.

GloRe pixel relations on p2-p6, instance relation and instance terms on p2 and p3, with the
official two-stage weights 1e-3, 4e-3, 2.4e-3.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import DRKD

from .faster_rcnn_R18_feature_mse import dataloader, lr_multiplier, model, optimizer, train
from .retinanet_R18_drkd import DIGITS_NODES

# The code's weights are kept although the terms read large on digits_det: with the code's
# unsquared Frobenius norm the gradient of each term has norm exactly its weight, whatever the
# distance (see retinanet_R18_drkd.py).
# 64 nodes on every level (p6 holds 4 pixels, p5 16), as in retinanet_R18_drkd.py, which
# says why.
model.distillers = [
    L(DRKD)(pr_weight=1e-3, ir_weight=4e-3, ins_weight=2.4e-3, num_nodes=DIGITS_NODES)
]
train.output_dir = "output/digits/faster_rcnn_R18_drkd"
