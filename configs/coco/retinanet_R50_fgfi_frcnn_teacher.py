"""COCO: RetinaNet R50-FPN student with FGFI from the zoo's Faster R-CNN X101-FPN teacher, a
teacher of another detector family.

Distillers pair features by name: RetinaNet's FPN has p3-p7, Faster R-CNN's p2-p6, so FGFI
imitates p3-p6, the levels both have (its default, every anchor level of the student, would
ask the teacher for p7 and is refused when the model is built). The mask still comes from the
student's head anchors on those levels. lambda and warm-up as the official FGFI code; no
adapter ReLU on signed FPN outputs.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import FGFI

from .retinanet_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .teachers.faster_rcnn_X101_32x8d_FPN_3x import WEIGHTS
from .teachers.faster_rcnn_X101_32x8d_FPN_3x import model as _teacher

model.teacher.update(model=_teacher, weights=WEIGHTS)
model.distillers = [
    L(FGFI)(
        features=["p3", "p4", "p5", "p6"],
        psi=0.5,
        loss_weight=0.01,
        warmup_iters=400,
        adapter_relu=False,
    )
]
train.output_dir = "output/coco/retinanet_R50_fgfi_frcnn_teacher"
