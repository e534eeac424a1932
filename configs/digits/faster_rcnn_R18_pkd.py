"""digits_det: the ResNet-18 Faster R-CNN student distilled from the ResNet-50 teacher with PKD.

The official Faster R-CNN setting, kept: the first four FPN levels (p2-p5) at weight 6. At the
start of training the PKD terms' gradient on the student was 1.04-1.11 times the detection
losses' (most of which is the fresh ROI classifier's), within the range of relkd's other hand
weights. docs/distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import PKD

from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(PKD)(student_features=["p2", "p3", "p4", "p5"], loss_weight=6.0)]
train.output_dir = "output/digits/faster_rcnn_R18_pkd"
