"""digits_det teacher: RetinaNet ResNet-50-FPN (reduced width, see common/models/digits.py)."""

from ..common.data.digits import dataloader
from ..common.digits_train import lr_multiplier, optimizer, train_settings
from ..common.models.digits import retinanet

MAX_ITER = 2500
model = retinanet(depth=50)
train = train_settings("output/digits/retinanet_R50_teacher", MAX_ITER)
