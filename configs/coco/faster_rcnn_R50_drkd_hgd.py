"""COCO: a composed recipe, DRKD (code weights) + HGD-R, for Faster R-CNN R50-FPN with the zoo's
X101-32x8d-FPN teacher; each distiller as in its own config."""

from .faster_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .faster_rcnn_R50_drkd import model as _drkd
from .faster_rcnn_R50_hgd import model as _hgd

model.distillers = [_drkd.distillers[0], _hgd.distillers[0]]
train.output_dir = "output/coco/faster_rcnn_R50_drkd_hgd"
