"""COCO: Faster R-CNN R50-FPN student with FGFI from the zoo's Faster R-CNN R101-FPN teacher.

FGFI's paper setting is single-level (VGG conv5 / ResNet res4, stride 16). On FPN the mask
uses the RPN anchors of all levels with the global max IoU, and the adapters drop the ReLU.
"""

from detectron2.config import LazyCall as L

from relkd import DistillRCNN, Teacher
from relkd.distillers import FGFI

from ..common.coco_train import dataloader, lr_multiplier, optimizer, train
from ..common.models.coco import faster_rcnn
from .teachers.faster_rcnn_R101_FPN_3x import WEIGHTS

model = faster_rcnn(depth=50)
model._target_ = DistillRCNN
model.teacher = L(Teacher)(
    config="configs/coco/teachers/faster_rcnn_R101_FPN_3x.py", weights=WEIGHTS
)
model.distillers = [L(FGFI)(psi=0.5, loss_weight=0.01, warmup_iters=400, adapter_relu=False)]
train.output_dir = "output/coco/faster_rcnn_R50_fgfi"
