"""digits_det DAB-DETR R50 teacher whose memory is the FPN level p3 (stride 8, 256 tokens at
128 px) of the digits RetinaNet R50 teacher, frozen: 21.4 AP at 7,000 iterations, the DAB-DETR
teacher worth distilling (BENCHMARKS.md, "A DAB-DETR teacher above 20 AP").

    python train_net.py --config-file configs/digits/retinanet_R50_teacher.py   # first
    python train_net.py --config-file configs/digits/dab_detr_R50_teacher_fpn.py

It starts from the RetinaNet teacher's checkpoint as it is (its ``backbone.*`` keys are this
model's; the RetinaNet head's are left out). A linear probe reads the digit class at a box's
centre token from p3 better than from res3 (BENCHMARKS.md, "DAB-DETR teacher levers").
"""

from ..common.digits_detr import on_frozen_fpn
from .dab_detr_R50_teacher import dataloader, lr_multiplier, model, optimizer, train

on_frozen_fpn(model, optimizer, train, "retinanet", 50, "output/digits/retinanet_R50_teacher")
train.max_iter = 7000  # 28 min at two threads on the 2-core CPU
train.checkpointer.period = 3500
train.output_dir = "output/digits/dab_detr_R50_teacher_fpn"
