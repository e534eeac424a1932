"""digits_det: the ResNet-18 Faster R-CNN student distilled from the ResNet-50 teacher with
FeatureMSE on the fine FPN levels (weight: docs/distillers.md, "digits_det weights")."""

from detectron2.config import LazyCall as L

from relkd.distillers import FeatureMSE

from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(FeatureMSE)(student_features=["p2", "p3", "p4", "p5"], loss_weight=0.05)]
train.output_dir = "output/digits/faster_rcnn_R18_feature_mse"
