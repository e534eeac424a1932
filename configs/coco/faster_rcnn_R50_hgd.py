"""COCO: HGD-R (relkd's reconstruction of HGD, not the paper's method) for Faster R-CNN
R50-FPN with the zoo's X101-32x8d-FPN teacher (`faster_rcnn_R50_distill_base.py`).

Stages res3-res5: the zoo recipe freezes the student's stem and res2 (`freeze_at=2`), so
guiding res2 would train only its adapter. gamma has no paper value; 0.1 is the digits_det
calibration and should be re-tuned on a short COCO schedule.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import HGD

from .faster_rcnn_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(HGD)(levels=["res3", "res4", "res5"], loss_weight=0.1)]
train.output_dir = "output/coco/faster_rcnn_R50_hgd"
