"""digits_det Mask R-CNN teacher: ResNet-50-FPN (reduced width, see common/models/digits.py),
trained on the instance-segmentation variant digits_det_segm (box and mask AP)."""

from ..common.data.digits_segm import dataloader
from ..common.digits_train import lr_multiplier, optimizer, train_settings
from ..common.models.digits import mask_rcnn

MAX_ITER = 2500
model = mask_rcnn(depth=50)
train = train_settings("output/digits/mask_rcnn_R50_teacher", MAX_ITER)
