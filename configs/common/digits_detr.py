"""Optimiser, schedule and trainer settings of the ``digits_det`` DAB-DETR configs (CPU).

KD-DETR's recipe: AdamW at 2e-4 with the backbone at a tenth of the rate, weight decay 1e-4,
gradient-norm clipping at 0.1. The papers start from ImageNet backbones; nothing may be
downloaded here, so the backbones come from relkd's own digits Faster R-CNNs
(``tools/backbone_init.py``; ``tools/quality.py`` makes them when they are missing).

Schedule: 6,000 teacher and 3,000 student iterations at batch 8 (``MAX_ITER`` of the configs),
sized so that the baseline reaches a clearly non-zero AP on a CPU (``tools/quality.py``, one
thread, 2026-11-21): teacher 3.7 AP (AP50 8.1), R18 baseline 1.7 AP (AP50 4.5). At 2,000 / 1,500
iterations they scored 1.0 and 0.25 AP. DETRs train far longer on COCO (``--scale N --device
cuda`` on a GPU).
"""

from functools import partial

from detectron2.config import LazyCall as L
from detectron2.model_zoo import get_config

from relkd.engine.optim import guarded
from relkd.engine.schedules import multistep_with_warmup, prefix_lr_factor

from .digits_train import train_settings as _base_settings
from .models.digits import faster_rcnn, retinanet

lr_multiplier = L(multistep_with_warmup)(max_iter="${train.max_iter}", warmup_iters=200)

optimizer = guarded(get_config("common/optim.py").AdamW, clip_grad_norm=0.1)
optimizer.lr = 2e-4
optimizer.weight_decay = 1e-4
optimizer.fused = "auto"  # as in digits_train.py
optimizer.params.lr_factor_func = partial(prefix_lr_factor, prefix="backbone.", factor=0.1)

# made by `python tools/backbone_init.py SRC OUT --stages stem res2 res3 res4` from the
# model_final.pth of configs/digits/faster_rcnn_R50_teacher.py (R50) and of
# configs/digits/faster_rcnn_R18_student.py (R18), in their output directories
BACKBONES = {
    50: "output/digits/backbones/faster_rcnn_R50.pth",
    18: "output/digits/backbones/faster_rcnn_R18.pth",
}


def train_settings(output_dir: str, max_iter: int, depth: int):
    train = _base_settings(output_dir, max_iter)
    train.init_checkpoint = BACKBONES[depth]
    return train


def on_frozen_fpn(model, optimizer, train, detector: str, depth: int, source: str) -> None:
    """Give a DAB-DETR config the frozen FPN p3 (stride 8) of the digits ``detector``
    (``"retinanet"`` or ``"faster_rcnn"``) ResNet-``depth`` trained in ``source``, initialised
    from its ``model_final.pth`` (its ``backbone.*`` keys are the DAB-DETR's)."""
    # ResNet (width 32) + FPN p2-p6, 64 channels
    model.backbone = {"retinanet": retinanet, "faster_rcnn": faster_rcnn}[detector](depth).backbone
    model.backbone.bottom_up.freeze_at = 5  # every stage frozen, BN frozen
    model.in_feature = "p3"
    optimizer.params.lr_factor_func = partial(prefix_lr_factor, prefix="backbone.", factor=0.0)
    train.init_checkpoint = f"{source}/model_final.pth"
