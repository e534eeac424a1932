"""COCO: PKD for RetinaNet R50-FPN from the zoo's RetinaNet R101-FPN teacher (the official
pairing, MMRazor's pkd_fpn_retina_x101_retina_r50_2x_coco, 37.4 -> 40.8 AP, has an X101-64x4d
teacher; the zoo's largest RetinaNet is R101).

The official setting: the first four FPN levels (p3-p6), weight 10 per level.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import PKD

from .retinanet_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(PKD)(student_features=["p3", "p4", "p5", "p6"], loss_weight=10.0)]
train.output_dir = "output/coco/retinanet_R50_pkd"
