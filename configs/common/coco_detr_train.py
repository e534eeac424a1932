"""COCO training pieces of the DAB-DETR configs: KD-DETR's recipe (8 GPUs x 8 images, AdamW
lr 2e-4 with the backbone at 2e-5, weight decay 1e-4, gradient-norm clip 0.1, 50 epochs with
the rate x0.1 after epoch 40) and DETR's augmentation (flip, multi-scale resize 480-800 short
side, at most 1333)."""

from functools import partial

from detectron2.config import LazyCall as L
from detectron2.data import transforms as T
from detectron2.model_zoo import get_config
from detectron2.solver import WarmupParamScheduler
from fvcore.common.param_scheduler import MultiStepParamScheduler

from relkd.engine.optim import guarded
from relkd.engine.schedules import prefix_lr_factor

ITERS_PER_EPOCH = 1833  # 117,266 train2017 images / 64
MAX_ITER = 50 * ITERS_PER_EPOCH

dataloader = get_config("common/data/coco.py").dataloader
dataloader.train.total_batch_size = 64
dataloader.train.mapper.use_instance_mask = False
dataloader.train.mapper.image_format = "RGB"
dataloader.train.mapper.augmentations = [
    L(T.RandomFlip)(horizontal=True),
    L(T.ResizeShortestEdge)(
        short_edge_length=(480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800),
        max_size=1333,
        sample_style="choice",
    ),
]
dataloader.test.mapper.image_format = "RGB"

optimizer = guarded(get_config("common/optim.py").AdamW, clip_grad_norm=0.1)
optimizer.lr = 2e-4
optimizer.weight_decay = 1e-4
optimizer.params.lr_factor_func = partial(prefix_lr_factor, prefix="backbone.", factor=0.1)

lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(
        values=[1.0, 0.1], milestones=[40 * ITERS_PER_EPOCH], num_updates=MAX_ITER
    ),
    warmup_length=0.0,
    warmup_factor=1.0,
)

train = get_config("common/train.py").train
train.max_iter = MAX_ITER
train.init_checkpoint = "detectron2://ImageNetPretrained/torchvision/R-50.pkl"
train.checkpointer.period = ITERS_PER_EPOCH
# distilled configs only: KD-DETR's DAB-DETR teachers score 42-44 box AP
train.teacher_preflight = dict(enabled=True, num_images=200, min_ap=20.0)
