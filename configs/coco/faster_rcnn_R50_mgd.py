"""COCO: MGD for Faster R-CNN R50-FPN from the zoo's Faster R-CNN X101-32x8d-FPN teacher (the
paper's teacher, Cascade Mask R-CNN X101-32x4d-DCN, is mmdet's: 38.4 -> 42.1 AP, 2x).

The official setting: the FPN conv outputs p2-p5 (not the max-pooled p6), mask ratio 0.45,
alpha_mgd 5e-7 per level.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import MGD

from .faster_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [
    L(MGD)(student_features=["p2", "p3", "p4", "p5"], lambda_mgd=0.45, loss_weight=5e-7)
]
train.output_dir = "output/coco/faster_rcnn_R50_mgd"
