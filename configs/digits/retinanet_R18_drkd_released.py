"""digits_det: DRKD as the official single-stage (RetinaNet) file runs it, for an A/B against
relkd's three-term reconstruction (`retinanet_R18_drkd.py`).

That file computes the three terms but only the instance-relation term reaches the loss, and
its relation module runs without the random relation filter. Same weight for that term as the
three-term config (the code's 5e-3 / 20, see there).
"""

from .retinanet_R18_drkd import dataloader, lr_multiplier, model, optimizer, train

model.distillers[0].update(pixel_weight=0.0, instance_weight=0.0, relation_filter="none")
train.output_dir = "output/digits/retinanet_R18_drkd_released"
