"""digits_det: the ResNet-18 RetinaNet student distilled from the ResNet-50 teacher with
FeatureMSE on every FPN level. Same schedule as the baseline student."""

from detectron2.config import LazyCall as L

from relkd import DistillRetinaNet, Teacher
from relkd.distillers import FeatureMSE

from .retinanet_R18_student import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model._target_ = DistillRetinaNet
model.teacher = L(Teacher)(
    config="configs/digits/retinanet_R50_teacher.py",
    weights="output/digits/retinanet_R50_teacher/model_final.pth",
)
model.distillers = [L(FeatureMSE)(student_features=["p3", "p4", "p5", "p6", "p7"], loss_weight=1.0)]
train.output_dir = "output/digits/retinanet_R18_feature_mse"
