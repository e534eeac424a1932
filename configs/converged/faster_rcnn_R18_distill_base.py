"""Converged testbed distillation base for Faster R-CNN: the student of
`faster_rcnn_R18_student.py` (same schedule) and the teacher of `faster_rcnn_R50_teacher.py`,
with no distillers. Each method config takes its distillers, unchanged, from the digits config
of that method."""

from detectron2.config import LazyCall as L

from relkd import DistillRCNN, Teacher

from .faster_rcnn_R18_student import dataloader, lr_multiplier, model, optimizer, train
from .faster_rcnn_R50_teacher import model as _teacher

model._target_ = DistillRCNN
model.teacher = L(Teacher)(
    model=_teacher, weights="output/converged/faster_rcnn_R50_teacher/model_final.pth"
)
model.distillers = []
train.output_dir = "output/converged/faster_rcnn_R18_distill_base"
