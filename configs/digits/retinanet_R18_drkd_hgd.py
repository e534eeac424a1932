"""digits_det: a composed recipe, DRKD + HGD-R, for the ResNet-18 RetinaNet student.

Each distiller keeps its own weights and warm-up (those of `retinanet_R18_drkd.py` and
`retinanet_R18_hgd.py`); their loss keys (`loss_drkd_*`, `loss_hgd_*`) are disjoint.
"""

from .retinanet_R18_drkd import model as _drkd_model
from .retinanet_R18_hgd import dataloader, lr_multiplier, model, optimizer, train

model.distillers = [_drkd_model.distillers[0], model.distillers[0]]
train.output_dir = "output/digits/retinanet_R18_drkd_hgd"
