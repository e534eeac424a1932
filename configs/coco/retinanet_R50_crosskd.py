"""COCO: CrossKD for RetinaNet R50-FPN from its base's teacher, the zoo's RetinaNet R101-FPN.

The paper's setting: the student's first 3 of its 4 head convs, then the teacher's fourth and
its prediction convs (`cross_after` defaults to all blocks but the last); QFL with beta 2 for the
classes, GIoU for the boxes, weight 1 each. The normaliser (the mean over every anchor) is
relkd's; docs/methods.md, "CrossKD".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import CrossKD

from .retinanet_R50_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(CrossKD)(head_convs=len(model.head.conv_dims))]
train.output_dir = "output/coco/retinanet_R50_crosskd"
