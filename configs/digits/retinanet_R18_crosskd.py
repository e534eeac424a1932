"""digits_det: the ResNet-18 RetinaNet student distilled from the ResNet-50 teacher with CrossKD.

The digits heads have 2 convs per branch: the student's first block, then the teacher's second
block and prediction convs (`cross_after` defaults to all blocks but the last, the paper's 3 of
4). The paper's term weights (1 and 1), with `loss_weight` 16: at 1 the CrossKD terms' gradient
on the student was 0.045-0.050 times the detection losses' at the start of training (terms
0.010-0.016 class, 0.31 box, against detection 3.4-4.4: both are means over every anchor, most
of them background); 16 puts that ratio at 0.72-0.79, near relkd's default of 0.8.
docs/distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import CrossKD

from .retinanet_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(CrossKD)(head_convs=len(model.head.conv_dims), loss_weight=16.0)]
train.output_dir = "output/digits/retinanet_R18_crosskd"
