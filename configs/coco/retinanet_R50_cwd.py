"""COCO: CWD for RetinaNet R50-FPN from the zoo's RetinaNet R101-FPN teacher, the official
pairing (MMRazor's cwd_fpn_retina_r101_retina_r50_1x_coco; relkd keeps its base's schedule).

The official setting: every FPN level (p3-p7), tau 1, weight 10 per level.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import CWD

from .retinanet_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [
    L(CWD)(student_features=["p3", "p4", "p5", "p6", "p7"], tau=1.0, loss_weight=10.0)
]
train.output_dir = "output/coco/retinanet_R50_cwd"
