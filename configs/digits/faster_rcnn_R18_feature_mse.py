"""digits_det: the ResNet-18 Faster R-CNN student distilled from the ResNet-50 teacher with
FeatureMSE on the fine FPN levels. Same schedule as the baseline student."""

from detectron2.config import LazyCall as L

from relkd import DistillRCNN, Teacher
from relkd.distillers import FeatureMSE

from .faster_rcnn_R18_student import dataloader, lr_multiplier, model, optimizer, train

model._target_ = DistillRCNN
model.teacher = L(Teacher)(
    config="configs/digits/faster_rcnn_R50_teacher.py",
    weights="output/digits/faster_rcnn_R50_teacher/model_final.pth",
)
# The coarsest levels of a from-scratch FPN have large magnitudes (measured on the RetinaNet
# pair at the start of training: MSE about 20 on p3-p5, 3.6e3 on p6, 1.3e5 on p7) and would
# swamp the detection losses; imitate the fine levels, with a weight near the detection loss.
model.distillers = [L(FeatureMSE)(student_features=["p2", "p3", "p4", "p5"], loss_weight=0.05)]
train.output_dir = "output/digits/faster_rcnn_R18_feature_mse"
