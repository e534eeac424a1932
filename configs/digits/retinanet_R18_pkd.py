"""digits_det: the ResNet-18 RetinaNet student distilled from the ResNet-50 teacher with PKD.

The official code distils the first four FPN levels (p3-p6 of COCO's p3-p7); here the first
four of digits' p2-p6. Weight 0.4 instead of the official 10: at 10 the PKD terms' gradient on
the student was 18-20 times the detection losses' at the start of training (terms about 10 per
level against detection 3.4-4.4); 0.4 puts that ratio at 0.73-0.82, relkd's default of 0.8.
docs/distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import PKD

from .retinanet_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(PKD)(student_features=["p2", "p3", "p4", "p5"], loss_weight=0.4)]
train.output_dir = "output/digits/retinanet_R18_pkd"
