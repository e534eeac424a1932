"""digits_det: ResNet-18 RetinaNet student distilled with DRKD from the ResNet-50 teacher.

GloRe pixel relations on p2-p6, instance relation and instance terms on p2 and p3. The weights
are the official single-stage file's RetinaNet values divided by 20 and the node counts 64 per
level: docs/distillers.md, "digits_det weights", says why.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import DRKD

from .retinanet_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [
    L(DRKD)(pixel_weight=2e-4, relation_weight=2.5e-4, instance_weight=3e-4, num_nodes=[64] * 5)
]
train.output_dir = "output/digits/retinanet_R18_drkd"
