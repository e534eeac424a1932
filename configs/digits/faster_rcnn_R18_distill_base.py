"""digits_det distillation base for Faster R-CNN: the ResNet-18 student of
`faster_rcnn_R18_student.py` (same schedule) and the ResNet-50 teacher of
`faster_rcnn_R50_teacher.py`, with no distillers. Each method config sets `model.distillers`."""

from detectron2.config import LazyCall as L

from relkd import DistillRCNN, Teacher

from .faster_rcnn_R18_student import dataloader, lr_multiplier, model, optimizer, train
from .faster_rcnn_R50_teacher import model as _teacher

model._target_ = DistillRCNN
model.teacher = L(Teacher)(
    model=_teacher, weights="output/digits/faster_rcnn_R50_teacher/model_final.pth"
)
model.distillers = []
train.output_dir = "output/digits/faster_rcnn_R18_distill_base"
