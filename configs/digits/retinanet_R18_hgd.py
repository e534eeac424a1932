"""digits_det: ResNet-18 RetinaNet student distilled with HGD-R from the ResNet-50 teacher.

HGD-R is relkd's reconstruction of HGD from its abstract (METHODS.md section 4), not the
paper's method. All four bottom-up stages res2-res5, GT-box micro re-weighting, balanced macro
weights.
"""

from detectron2.config import LazyCall as L

from relkd.distillers import HGD

from .retinanet_R18_feature_mse import dataloader, lr_multiplier, model, optimizer, train

# gamma 0.1: at the start of training against the trained teacher the four balanced stage terms
# sum to about 9 with gamma 1 (raw stage losses about 12, 11, 9, 4 on res2-res5) while the
# detection losses sum to about 1.8; 0.1 puts HGD-R just under the detection loss.
model.distillers = [L(HGD)(levels=["res2", "res3", "res4", "res5"], loss_weight=0.1)]
train.output_dir = "output/digits/retinanet_R18_hgd"
