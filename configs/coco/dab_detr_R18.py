"""COCO: DAB-DETR R18, the baseline of dab_detr_R18_kd_detr.py (KD-DETR reports 36.2 AP).

detectron2's model zoo has no ResNet-18: convert torchvision's ImageNet ``resnet18`` with
detectron2's ``tools/convert-torchvision-to-d2.py`` to ``R-18.pkl`` (training stops with a
"not found" error until that file exists)."""

from ..common.coco_detr_train import dataloader, lr_multiplier, optimizer, train
from ..common.models.coco import dab_detr

model = dab_detr(depth=18)
train.init_checkpoint = "R-18.pkl"
train.output_dir = "output/coco/dab_detr_R18"
