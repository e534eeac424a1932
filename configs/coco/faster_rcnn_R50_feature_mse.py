"""COCO: Faster R-CNN R50-FPN student, FeatureMSE on p2-p6 from the zoo's X101-32x8d teacher
(the pairing DRKD uses: ResNeXt-101 teacher, R50 student, 2x)."""

from detectron2.config import LazyCall as L

from relkd import DistillRCNN, Teacher
from relkd.distillers import FeatureMSE

from ..common.coco_train import dataloader, lr_multiplier, optimizer, train
from ..common.models.coco import faster_rcnn
from .teachers.faster_rcnn_X101_32x8d_FPN_3x import WEIGHTS

model = faster_rcnn(depth=50)
model._target_ = DistillRCNN
model.teacher = L(Teacher)(
    config="configs/coco/teachers/faster_rcnn_X101_32x8d_FPN_3x.py", weights=WEIGHTS
)
model.distillers = [L(FeatureMSE)(student_features=["p2", "p3", "p4", "p5", "p6"])]
train.output_dir = "output/coco/faster_rcnn_R50_feature_mse"
