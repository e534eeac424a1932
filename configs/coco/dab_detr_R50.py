"""COCO: DAB-DETR R50 (KD-DETR reports 42.2 AP at 50 epochs). Trained by relkd itself, it is the
teacher of configs/coco/dab_detr_R18_kd_detr.py and the baseline of dab_detr_R50_kd_detr.py:
there is no DAB-DETR in detectron2's model zoo, and checkpoints of other codebases have other
parameter names (the teacher loads strictly)."""

from ..common.coco_detr_train import dataloader, lr_multiplier, optimizer, train
from ..common.models.coco import dab_detr

model = dab_detr(depth=50)
train.output_dir = "output/coco/dab_detr_R50"
