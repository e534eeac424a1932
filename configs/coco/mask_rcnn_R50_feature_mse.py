"""COCO: Mask R-CNN R50-FPN student with FeatureMSE on p2-p6 from the zoo's Mask R-CNN
X101-32x8d-FPN teacher (`mask_rcnn_R50_distill_base.py`); the distiller of
`faster_rcnn_R50_feature_mse.py`, unchanged."""

from .faster_rcnn_R50_feature_mse import model as _boxes
from .mask_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = _boxes.distillers
train.output_dir = "output/coco/mask_rcnn_R50_feature_mse"
