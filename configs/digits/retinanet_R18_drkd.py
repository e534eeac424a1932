"""digits_det: ResNet-18 RetinaNet student distilled with DRKD from the ResNet-50 teacher.

GloRe pixel relations on p3-p7, instance relation and instance terms on p3 and p4. The weights
are the flagged RetinaNet values of the official single-stage file (METHODS.md 2.9).
"""

from detectron2.config import LazyCall as L

from relkd.distillers import DRKD

from .retinanet_R18_feature_mse import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(DRKD)(pr_weight=4e-3, ir_weight=5e-3, ins_weight=6e-3)]
train.output_dir = "output/digits/retinanet_R18_drkd"
