"""COCO: Mask R-CNN R50-FPN student with HGD-R on res3-res5 from the zoo's Mask R-CNN
X101-32x8d-FPN teacher (`mask_rcnn_R50_distill_base.py`); the distiller of
`faster_rcnn_R50_hgd.py`, unchanged (its micro re-weighting from the GT boxes)."""

from .faster_rcnn_R50_hgd import model as _boxes
from .mask_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = _boxes.distillers
train.output_dir = "output/coco/mask_rcnn_R50_hgd"
