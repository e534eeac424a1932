"""digits_det: the ResNet-18 RetinaNet student distilled from the ResNet-50 teacher with
FeatureMSE on the fine FPN levels. Same schedule as the baseline student."""

from detectron2.config import LazyCall as L

from relkd import DistillRetinaNet, Teacher
from relkd.distillers import FeatureMSE

from .retinanet_R18_student import dataloader, lr_multiplier, model, optimizer, train

model._target_ = DistillRetinaNet
model.teacher = L(Teacher)(
    config="configs/digits/retinanet_R50_teacher.py",
    weights="output/digits/retinanet_R50_teacher/model_final.pth",
)
# The coarsest levels of a from-scratch FPN have large magnitudes (measured at the start of
# training: MSE about 20 on p3-p5, 3.6e3 on p6 and 1.3e5 on p7) and would swamp the detection
# losses; imitate the fine levels, with a weight that puts the term near the detection loss.
model.distillers = [L(FeatureMSE)(student_features=["p3", "p4", "p5"], loss_weight=0.05)]
train.output_dir = "output/digits/retinanet_R18_feature_mse"
