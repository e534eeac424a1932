"""digits_det baseline student for instance segmentation: Mask R-CNN ResNet-18-FPN trained on
digits_det_segm without a teacher."""

from ..common.data.digits_segm import dataloader
from ..common.digits_train import lr_multiplier, optimizer, train_settings
from ..common.models.digits import mask_rcnn

MAX_ITER = 1000
model = mask_rcnn(depth=18)
train = train_settings("output/digits/mask_rcnn_R18_student", MAX_ITER)
