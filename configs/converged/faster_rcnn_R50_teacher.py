"""Converged testbed teacher: the digits Faster R-CNN ResNet-50-FPN
(`configs/digits/faster_rcnn_R50_teacher.py`) trained 8,000 iterations instead of 2,500, so that
it stays ahead of a converged student (BENCHMARKS.md, "Distillation at convergence"). The
comparison trains two of them, seeds 0 and 1 (`train.seed`)."""

from ..common.data.digits import dataloader
from ..common.digits_train import lr_multiplier, optimizer, train_settings
from ..common.models.digits import faster_rcnn

MAX_ITER = 8000
model = faster_rcnn(depth=50)
train = train_settings("output/converged/faster_rcnn_R50_teacher", MAX_ITER)
