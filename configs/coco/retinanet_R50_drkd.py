"""COCO: DRKD for RetinaNet R50-FPN (paper: 37.4 -> 40.3 AP, 2x) with the zoo's RetinaNet R101
teacher; flagged RetinaNet weights 4e-3 / 5e-3 / 6e-3 (docs/methods.md, "DRKD")."""

from detectron2.config import LazyCall as L

from relkd.distillers import DRKD

from .retinanet_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(DRKD)(pixel_weight=4e-3, relation_weight=5e-3, instance_weight=6e-3)]
train.output_dir = "output/coco/retinanet_R50_drkd"
