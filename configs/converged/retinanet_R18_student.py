"""Converged testbed student: RetinaNet ResNet-18-FPN at half the digits width (16 base channels,
res2-res5 of 16-128; the FPN and head as the digits configs), trained without a teacher for
`MAX_ITER`, the testbed's schedule L: the baseline at L is within 1.5 AP of the baseline at L/2
(BENCHMARKS.md, "Distillation at convergence")."""

from ..common.data.digits import dataloader
from ..common.digits_train import lr_multiplier, optimizer, train_settings
from ..common.models.digits import retinanet

MAX_ITER = 4000
model = retinanet(depth=18, width=16)
train = train_settings("output/converged/retinanet_R18_student", MAX_ITER)
# eight checkpoints over the run, all kept: tools/grad_ratio.py measures each
train.checkpointer.update(period=MAX_ITER // 8, max_to_keep=8)
