"""digits_det: a composed recipe, DRKD + HGD-R, for the ResNet-18 RetinaNet student.

Each distiller keeps its own weights and warm-up (those of `retinanet_R18_drkd.py` and
`retinanet_R18_hgd.py`); their loss keys (`loss_drkd_*`, `loss_hgd_*`) are disjoint.
"""

from .retinanet_R18_distill_base import dataloader, lr_multiplier, model, optimizer, train
from .retinanet_R18_drkd import model as _drkd
from .retinanet_R18_hgd import model as _hgd

model.distillers = [_drkd.distillers[0], _hgd.distillers[0]]
train.output_dir = "output/digits/retinanet_R18_drkd_hgd"
