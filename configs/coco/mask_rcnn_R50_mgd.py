"""COCO: MGD for Mask R-CNN R50-FPN from the zoo's Mask R-CNN X101-32x8d-FPN teacher (the
paper's, yzd-v/MGD cascade_mask_rcnn_rx101_32x4d_distill_mask_rcnn_r50_fpn_2x_coco, is mmdet's
Cascade Mask R-CNN X101-32x4d-DCN, which detectron2's zoo does not have).

The official setting, as its Faster R-CNN one: the FPN conv outputs p2-p5, mask ratio 0.45,
alpha_mgd 5e-7 per level. The distiller of `faster_rcnn_R50_mgd.py`.
"""

from .faster_rcnn_R50_mgd import model as _boxes
from .mask_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = _boxes.distillers
train.output_dir = "output/coco/mask_rcnn_R50_mgd"
