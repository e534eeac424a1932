"""digits_det: the ResNet-18 Faster R-CNN student distilled from the ResNet-50 teacher with
FeatureMSE on every FPN level. Same schedule as the baseline student."""

from detectron2.config import LazyCall as L

from relkd import DistillRCNN, Teacher
from relkd.distillers import FeatureMSE

from .faster_rcnn_R18_student import (
    model,
    train,
)  # noqa: F401

model._target_ = DistillRCNN
model.teacher = L(Teacher)(
    config="configs/digits/faster_rcnn_R50_teacher.py",
    weights="output/digits/faster_rcnn_R50_teacher/model_final.pth",
)
model.distillers = [L(FeatureMSE)(student_features=["p2", "p3", "p4", "p5", "p6"], loss_weight=1.0)]
train.output_dir = "output/digits/faster_rcnn_R18_feature_mse"
