"""digits_det: the ResNet-18 Faster R-CNN student distilled from the ResNet-50 teacher with MGD.

The FPN conv outputs p2-p5 (not the max-pooled p6) and mask ratio 0.45, as the official Faster
R-CNN config. alpha_mgd 3.5e-5 instead of the official 5e-7: at 5e-7 the MGD terms' gradient on
the student was 0.011 times the detection losses' at the start of training (terms 0.6-0.8
against detection 3.0); 3.5e-5 puts it at 0.78-0.79, relkd's default of 0.8. The terms then
sum to 42-54: most of that is the untrained generation blocks' error, which they learn, not the
student. docs/distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import MGD

from .faster_rcnn_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [
    L(MGD)(student_features=["p2", "p3", "p4", "p5"], lambda_mgd=0.45, loss_weight=3.5e-5)
]
train.output_dir = "output/digits/faster_rcnn_R18_mgd"
