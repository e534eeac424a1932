"""digits_det DAB-DETR ResNet-18 student whose memory is the FPN level p3 (stride 8, 256 tokens
at 128 px) of the digits Faster R-CNN R18 student, frozen: the student-side mirror of the
teacher `dab_detr_R50_teacher_fpn.py`. The C4 student of `dab_detr_R18_student.py` reaches
about 1.5 AP in its 3,000 iterations, little for a decoder-level distiller to act on.

    python train_net.py --config-file configs/digits/faster_rcnn_R18_student.py   # first
    python train_net.py --config-file configs/digits/dab_detr_fpn_R18_student.py

It starts from the Faster R-CNN student's checkpoint as it is (its ``backbone.*`` keys are this
model's; the RPN's and box head's are left out). Transformer, schedule and optimiser are those
of `dab_detr_R18_student.py`.
"""

from ..common.digits_detr import on_frozen_fpn
from .dab_detr_R18_student import dataloader, lr_multiplier, model, optimizer, train

on_frozen_fpn(model, optimizer, train, "faster_rcnn", 18, "output/digits/faster_rcnn_R18_student")
train.output_dir = "output/digits/dab_detr_fpn_R18_student"
