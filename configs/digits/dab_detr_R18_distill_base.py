"""digits_det distillation base for DAB-DETR: the ResNet-18 student of
`dab_detr_R18_student.py` (same schedule) and the ResNet-50 teacher of
`dab_detr_R50_teacher_fpn.py` (on the RetinaNet teacher's frozen FPN p3: 21.4 AP), with no
distillers. `dab_detr_R18_kd_detr.py` sets KD-DETR."""

from detectron2.config import LazyCall as L

from relkd import DistillDABDETR, Teacher

from .dab_detr_R18_student import dataloader, lr_multiplier, model, optimizer, train
from .dab_detr_R50_teacher_fpn import model as _teacher

model._target_ = DistillDABDETR
model.teacher = L(Teacher)(
    model=_teacher, weights="output/digits/dab_detr_R50_teacher_fpn/model_final.pth"
)
model.distillers = []
train.output_dir = "output/digits/dab_detr_R18_distill_base"
