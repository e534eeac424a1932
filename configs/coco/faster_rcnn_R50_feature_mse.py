"""COCO: Faster R-CNN R50-FPN student, FeatureMSE on p2-p6 from the zoo's X101-32x8d teacher."""

from detectron2.config import LazyCall as L

from relkd.distillers import FeatureMSE

from .faster_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(FeatureMSE)(student_features=["p2", "p3", "p4", "p5", "p6"])]
train.output_dir = "output/coco/faster_rcnn_R50_feature_mse"
