"""digits_det distillation base for RetinaNet: the ResNet-18 student of
`retinanet_R18_student.py` (same schedule) and the ResNet-50 teacher of
`retinanet_R50_teacher.py`, with no distillers. Each method config sets `model.distillers`."""

from detectron2.config import LazyCall as L

from relkd import DistillRetinaNet, Teacher

from .retinanet_R18_student import dataloader, lr_multiplier, model, optimizer, train
from .retinanet_R50_teacher import model as _teacher

model._target_ = DistillRetinaNet
model.teacher = L(Teacher)(
    model=_teacher, weights="output/digits/retinanet_R50_teacher/model_final.pth"
)
model.distillers = []
train.output_dir = "output/digits/retinanet_R18_distill_base"
