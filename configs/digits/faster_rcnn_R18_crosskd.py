"""digits_det: the ResNet-18 Faster R-CNN student distilled from the ResNet-50 teacher with
CrossKD in the ROI box head (relkd's design: the paper gives no two-stage details).

The student's first fc block, then the teacher's second fc block and box predictor. The weights
1 and 1 (as the paper's dense terms) kept: at the start of training the CrossKD terms' gradient
on the student was 0.67-0.73 times the detection losses' (terms 0.79-0.86 class, 0.44 box,
against detection 3.0), within the range of relkd's other hand weights.
docs/distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import CrossKDROI

from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [L(CrossKDROI)(cross_after=1)]
train.output_dir = "output/digits/faster_rcnn_R18_crosskd"
