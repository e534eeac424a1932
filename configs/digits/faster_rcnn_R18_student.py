"""digits_det baseline student: Faster R-CNN ResNet-18-FPN trained without a teacher."""

from ..common.data.digits import dataloader
from ..common.digits_train import lr_multiplier, optimizer, train_settings
from ..common.models.digits import faster_rcnn

MAX_ITER = 1000
model = faster_rcnn(depth=18)
train = train_settings("output/digits/faster_rcnn_R18_student", MAX_ITER)
