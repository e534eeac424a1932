"""Converged testbed: the RetinaNet ResNet-18 student distilled with FGFI, with the distillers (and
their weights) of `configs/digits/retinanet_R18_fgfi.py`."""

from ..digits.retinanet_R18_fgfi import model as _digits
from .retinanet_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = _digits.distillers
train.output_dir = "output/converged/retinanet_R18_fgfi"
