"""COCO: HGD-R (relkd's reconstruction of HGD, not the paper's method) for RetinaNet R50-FPN
with the zoo's RetinaNet R101 teacher (`retinanet_R50_distill_base.py`).

Stages res3-res5 (the zoo recipe freezes the student's res2); gamma 0.1 is the digits_det
calibration, to be re-tuned on a short COCO schedule.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import HGD

from .retinanet_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(HGD)(levels=["res3", "res4", "res5"], loss_weight=0.1)]
train.output_dir = "output/coco/retinanet_R50_hgd"
