"""COCO: a composed recipe, DRKD (code weights) + HGD-R, for Faster R-CNN R50-FPN, with the
teacher of `faster_rcnn_R50_drkd.py`."""

from .faster_rcnn_R50_drkd import dataloader, lr_multiplier, model, optimizer, train
from .faster_rcnn_R50_hgd import model as _hgd_model

model.distillers = [model.distillers[0], _hgd_model.distillers[0]]
train.output_dir = "output/coco/faster_rcnn_R50_drkd_hgd"
