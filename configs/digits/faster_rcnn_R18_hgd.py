"""digits_det: ResNet-18 Faster R-CNN student distilled with HGD-R from the ResNet-50 teacher.

HGD-R is relkd's reconstruction of HGD from its abstract (docs/distillers.md), not the paper's
method: all four bottom-up stages res2-res5, GT-box micro re-weighting, balanced macro weights,
gamma 0.1 (docs/distillers.md, "digits_det weights").
"""

from detectron2.config import LazyCall as L

from relkd.distillers import HGD

from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(HGD)(levels=["res2", "res3", "res4", "res5"], loss_weight=0.1)]
train.output_dir = "output/digits/faster_rcnn_R18_hgd"
