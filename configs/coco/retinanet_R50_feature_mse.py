"""COCO: RetinaNet R50-FPN student, FeatureMSE on p3-p7 from the zoo's RetinaNet R101 teacher."""

from detectron2.config import LazyCall as L

from relkd.distillers import FeatureMSE

from .retinanet_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(FeatureMSE)(student_features=["p3", "p4", "p5", "p6", "p7"])]
train.output_dir = "output/coco/retinanet_R50_feature_mse"
