"""digits_det baseline student: RetinaNet ResNet-18-FPN trained without a teacher."""

from ..common.data.digits import dataloader
from ..common.digits_train import lr_multiplier, optimizer, train_settings
from ..common.models.digits import retinanet

MAX_ITER = 1000
model = retinanet(depth=18)
train = train_settings("output/digits/retinanet_R18_student", MAX_ITER)
