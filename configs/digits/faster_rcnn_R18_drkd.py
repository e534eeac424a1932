"""digits_det: ResNet-18 Faster R-CNN student distilled with DRKD from the ResNet-50 teacher.

GloRe pixel relations on p2-p6, instance relation and instance terms on p2 and p3, with the
official two-stage weights 1e-3, 4e-3, 2.4e-3 and 64 nodes per level (docs/distillers.md,
"digits_det weights").
"""

from detectron2.config import LazyCall as L

from relkd.distillers import DRKD

from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [
    L(DRKD)(pixel_weight=1e-3, relation_weight=4e-3, instance_weight=2.4e-3, num_nodes=[64] * 5)
]
train.output_dir = "output/digits/faster_rcnn_R18_drkd"
