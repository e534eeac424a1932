"""digits_det teacher: DAB-DETR with a ResNet-50 backbone (reduced width, C4), its ResNet
initialised from the digits Faster R-CNN teacher's.

DETRs converge slowly; see configs/common/digits_detr.py for the optimiser and schedule.
"""

from ..common.data.digits import dataloader
from ..common.digits_detr import lr_multiplier, optimizer, train_settings
from ..common.models.digits import dab_detr

MAX_ITER = 6000
model = dab_detr(depth=50)
train = train_settings("output/digits/dab_detr_R50_teacher", MAX_ITER, depth=50)
