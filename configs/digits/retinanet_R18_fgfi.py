"""digits_det: ResNet-18 RetinaNet student distilled with FGFI from the ResNet-50 teacher.

Imitation on every anchor level (p3-p7) with the global max-IoU mask; the adapter has no
ReLU because FPN outputs are signed (METHODS.md 1.8). lambda 0.01 and a 400-iteration warm-up
as in the official code.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import FGFI

from .retinanet_R18_feature_mse import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(FGFI)(psi=0.5, loss_weight=0.01, warmup_iters=400, adapter_relu=False)]
train.output_dir = "output/digits/retinanet_R18_fgfi"
