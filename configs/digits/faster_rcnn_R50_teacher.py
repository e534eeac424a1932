"""digits_det teacher: Faster R-CNN ResNet-50-FPN (reduced width, see common/models/digits.py)."""

from ..common.data.digits import dataloader
from ..common.digits_train import lr_multiplier, optimizer, train_settings
from ..common.models.digits import faster_rcnn

MAX_ITER = 2500
model = faster_rcnn(depth=50)
train = train_settings("output/digits/faster_rcnn_R50_teacher", MAX_ITER)
