"""COCO training pieces shared by configs/coco: data, optimiser, 2x schedule (the papers'
students train 2x), trainer settings. 8 GPUs x 2 images."""

from detectron2.model_zoo import get_config

dataloader = get_config("common/data/coco.py").dataloader
dataloader.train.mapper.use_instance_mask = False
optimizer = get_config("common/optim.py").SGD
lr_multiplier = get_config("common/coco_schedule.py").lr_multiplier_2x
train = get_config("common/train.py").train
train.max_iter = 180000
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
# distilled configs only (a model with a teacher): the model-zoo teachers score 37-45 box AP
train.teacher_preflight = dict(enabled=True, num_images=200, min_ap=20.0)
