"""digits_det: the DAB-DETR ResNet-18 student distilled with KD-DETR from the ResNet-50 teacher.

Specific points are the teacher's 50 learned anchors; general points are 50 fresh N(0, 1)
logit-space anchors per iteration (the paper pairs 300 general points with 300 queries; relkd
keeps that one-to-one ratio). Loss weights 1/5/2 and T = 10 as in the official code.
"""

from detectron2.config import LazyCall as L

from relkd import DistillDABDETR, Teacher
from relkd.distillers import KDDETR

from .dab_detr_R18_student import dataloader, lr_multiplier, model, optimizer, train

model._target_ = DistillDABDETR
model.teacher = L(Teacher)(
    config="configs/digits/dab_detr_R50_teacher.py",
    weights="output/digits/dab_detr_R50_teacher/model_final.pth",
)
model.distillers = [L(KDDETR)(num_general_points=50)]
train.output_dir = "output/digits/dab_detr_R18_kd_detr"
