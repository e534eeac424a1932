"""digits_det: a composed recipe, DRKD + HGD-R, for the ResNet-18 Faster R-CNN student.

Each distiller keeps its own weights and warm-up (those of `faster_rcnn_R18_drkd.py` and
`faster_rcnn_R18_hgd.py`); their loss keys are disjoint.
"""

from .faster_rcnn_R18_drkd import model as _drkd_model
from .faster_rcnn_R18_hgd import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [_drkd_model.distillers[0], model.distillers[0]]
train.output_dir = "output/digits/faster_rcnn_R18_drkd_hgd"
