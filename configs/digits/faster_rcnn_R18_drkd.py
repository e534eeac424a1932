"""digits_det: ResNet-18 Faster R-CNN student distilled with DRKD from the ResNet-50 teacher.

GloRe pixel relations on p2-p6, instance relation and instance terms on p2 and p3, with the
official two-stage weights 1e-3, 4e-3, 2.4e-3.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import DRKD

from .faster_rcnn_R18_feature_mse import dataloader, lr_multiplier, model, optimizer, train
from .retinanet_R18_drkd import DIGITS_NODES

# The code's weights are kept although the terms read large on digits_det (pixel 8, relation
# 10, instance 6 against 3.0 for detection): what steers the student is their gradient, and
# `tools/loss_scale.py configs/digits/faster_rcnn_R18_drkd.py --batches 2 --grads` gives, on the
# student at the start, pixel 1.8, relation 9.0-11.1, instance 5.3-6.7 against 16.1-16.5 for the
# detection losses (the fresh ROI classifier's): about 0.7 of it, taken together. RetinaNet's
# detection gradient is 20 times smaller, so its digits config divides these weights by 20
# (retinanet_R18_drkd.py says why).
# 64 nodes on every level (p6 holds 4 pixels, p5 16), as in retinanet_R18_drkd.py, which
# says why.
model.distillers = [
    L(DRKD)(pr_weight=1e-3, ir_weight=4e-3, ins_weight=2.4e-3, num_nodes=DIGITS_NODES)
]
train.output_dir = "output/digits/faster_rcnn_R18_drkd"
