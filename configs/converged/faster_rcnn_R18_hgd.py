"""Converged testbed: the Faster R-CNN ResNet-18 student distilled with HGD-R, with the distillers
(and their weights) of `configs/digits/faster_rcnn_R18_hgd.py`."""

from ..digits.faster_rcnn_R18_hgd import model as _digits
from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = _digits.distillers
train.output_dir = "output/converged/faster_rcnn_R18_hgd"
