"""Converged testbed: the Faster R-CNN ResNet-18 student distilled with DRKD, with the distillers
(and their weights) of `configs/digits/faster_rcnn_R18_drkd.py`."""

from ..digits.faster_rcnn_R18_drkd import model as _digits
from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = _digits.distillers
train.output_dir = "output/converged/faster_rcnn_R18_drkd"
