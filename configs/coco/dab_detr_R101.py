"""COCO: DAB-DETR R101 (KD-DETR reports 43.5 AP), the teacher of dab_detr_R50_kd_detr.py."""

from ..common.coco_detr_train import dataloader, lr_multiplier, optimizer, train
from ..common.models.coco import dab_detr

model = dab_detr(depth=101)
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
# the MSRA weights are BGR Caffe-style with stride in the 1x1 conv
model.backbone.stages.stride_in_1x1 = True
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = [1.0, 1.0, 1.0]
model.input_format = "BGR"
dataloader.train.mapper.image_format = "BGR"
dataloader.test.mapper.image_format = "BGR"
train.output_dir = "output/coco/dab_detr_R101"
