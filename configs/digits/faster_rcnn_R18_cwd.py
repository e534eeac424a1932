"""digits_det: the ResNet-18 Faster R-CNN student distilled from the ResNet-50 teacher with CWD.

Every FPN level (p2-p6), tau 1, as the official detection configs. Weight 0.5 instead of the
official 10: at 10 the CWD terms summed to 144-146 against detection 3.0, their gradient on the
student 16 times the detection losses'; 0.5 puts that ratio at 0.79-0.81, relkd's default of
0.8. docs/distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import CWD

from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [
    L(CWD)(student_features=["p2", "p3", "p4", "p5", "p6"], tau=1.0, loss_weight=0.5)
]
train.output_dir = "output/digits/faster_rcnn_R18_cwd"
