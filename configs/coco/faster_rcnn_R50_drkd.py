"""COCO: DRKD for Faster R-CNN R50-FPN (paper: 38.4 -> 41.6 AP, 2x), teacher the zoo's
Faster R-CNN X101-32x8d-FPN (the paper's teacher, Cascade Mask R-CNN X101-DCN, is mmdet's)."""

from detectron2.config import LazyCall as L

from relkd.distillers import DRKD

from .faster_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(DRKD)(pixel_weight=1e-3, relation_weight=4e-3, instance_weight=2.4e-3)]
train.output_dir = "output/coco/faster_rcnn_R50_drkd"
