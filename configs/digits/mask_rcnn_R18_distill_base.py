"""digits_det distillation base for Mask R-CNN: the ResNet-18 student of
`mask_rcnn_R18_student.py` (same schedule) and the ResNet-50 teacher of
`mask_rcnn_R50_teacher.py`, with no distillers. DistillRCNN keeps the student's mask branch and
trains it on the ground-truth masks; the teacher hands the distillers backbone features only.
Each method config sets `model.distillers`."""

from detectron2.config import LazyCall as L

from relkd import DistillRCNN, Teacher

from .mask_rcnn_R18_student import dataloader, lr_multiplier, model, optimizer, train
from .mask_rcnn_R50_teacher import model as _teacher

model._target_ = DistillRCNN
model.teacher = L(Teacher)(
    model=_teacher, weights="output/digits/mask_rcnn_R50_teacher/model_final.pth"
)
model.distillers = []
train.output_dir = "output/digits/mask_rcnn_R18_distill_base"
