"""digits_det: the ResNet-18 RetinaNet student distilled from the ResNet-50 teacher with MGD.

Every FPN level (p2-p6) and mask ratio 0.65, as the official RetinaNet config. alpha_mgd 4e-6
instead of the official 2e-5: at 2e-5 the MGD terms' gradient on the student was 3.6-4.9 times
the detection losses' at the start of training; 4e-6 puts it at 0.71-0.97, around relkd's
default of 0.8. The terms then sum to 6-11, mostly p2's, against detection 3.4-4.4: most of
that is the untrained generation blocks' error, which they learn, not the student.
docs/distillers.md, "digits_det weights".
"""

from detectron2.config import LazyCall as L

from relkd.distillers import MGD

from .retinanet_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [
    L(MGD)(student_features=["p2", "p3", "p4", "p5", "p6"], lambda_mgd=0.65, loss_weight=4e-6)
]
train.output_dir = "output/digits/retinanet_R18_mgd"
