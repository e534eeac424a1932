"""digits_det baseline student: DAB-DETR ResNet-18 (reduced width, C4) trained without a teacher,
its ResNet initialised from the digits Faster R-CNN R18 student's.
Same transformer as the teacher (as in KD-DETR's pairs, where only the backbone differs)."""

from ..common.data.digits import dataloader
from ..common.digits_detr import lr_multiplier, optimizer, train_settings
from ..common.models.digits import dab_detr

MAX_ITER = 3000
model = dab_detr(depth=18)
train = train_settings("output/digits/dab_detr_R18_student", MAX_ITER, depth=18)
