"""Converged testbed student: RetinaNet ResNet-18-FPN at a quarter of the digits width (8 base
channels, res2-res5 of 8-64; the FPN and head as the digits configs), trained without a teacher
for `MAX_ITER`, the testbed's schedule L. Width and L were chosen from the baseline alone, by the
rule written before any distilled student trained (BENCHMARKS.md, "Distillation at
convergence"): L is 8,000 if the baseline at 8,000 is within 1.5 AP of the baseline at 4,000 on
both detectors, else 16,000."""

from ..common.data.digits import dataloader
from ..common.digits_train import lr_multiplier, optimizer, train_settings
from ..common.models.digits import retinanet

MAX_ITER = 8000
model = retinanet(depth=18, width=8)
train = train_settings("output/converged/retinanet_R18_student", MAX_ITER)
# eight checkpoints over the run, all kept: tools/grad_ratio.py measures each
train.checkpointer.update(period=MAX_ITER // 8, max_to_keep=8)
