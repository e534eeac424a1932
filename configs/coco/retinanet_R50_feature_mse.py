"""COCO: RetinaNet R50-FPN student, FeatureMSE on p3-p7 from the zoo's RetinaNet R101 teacher
(DRKD's RetinaNet pairing uses an X101 teacher; the zoo's largest RetinaNet is R101)."""

from detectron2.config import LazyCall as L

from relkd import DistillRetinaNet, Teacher
from relkd.distillers import FeatureMSE

from ..common.coco_train import dataloader, lr_multiplier, optimizer, train
from ..common.models.coco import retinanet
from .teachers.retinanet_R101_FPN_3x import WEIGHTS

model = retinanet(depth=50)
model._target_ = DistillRetinaNet
model.teacher = L(Teacher)(config="configs/coco/teachers/retinanet_R101_FPN_3x.py", weights=WEIGHTS)
model.distillers = [L(FeatureMSE)(student_features=["p3", "p4", "p5", "p6", "p7"])]
optimizer.lr = 0.01
train.output_dir = "output/coco/retinanet_R50_feature_mse"
