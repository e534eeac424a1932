"""digits_det: the DAB-DETR ResNet-18 student distilled with KD-DETR from the ResNet-50 teacher.

Specific points are the teacher's 50 learned anchors; general points are 50 fresh N(0, 1)
logit-space anchors per iteration (the paper pairs 300 general points with 300 queries; relkd
keeps that one-to-one ratio). T = 10 and the L1 and GIoU weights 5 and 2 as in the official
code; the KL weight is 0.1 instead of 1, calibrated for digits_det (below).
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
# KL weight 0.1: `tools/loss_scale.py configs/digits/dab_detr_R18_kd_detr.py --batches 2 --grads`
# (at weight 1) gives, on the student at the start, the last layer's KL terms gradient norms of
# 16-24 (specific and general points) against 2.0 for its detection class loss, while the L1
# (2.3 against 2.5-2.8) and GIoU (0.2-0.6 against 0.3-0.4) terms are level with theirs. At weight
# 1 the class gradient is the teacher's (a weak one on digits: 3.7 AP) and two seeds scored 1.22
# and 1.79 AP against the baseline's 1.68 and 1.76. Weight 0.1 brings the KL gradient to the
# detection class loss's; it was set from these norms before any run at it, and gave 1.60 and
# 2.13 (BENCHMARKS.md, quality table). The COCO configs keep the code's 1.
model.distillers = [L(KDDETR)(num_general_points=50, cls_weight=0.1)]
train.output_dir = "output/digits/dab_detr_R18_kd_detr"
