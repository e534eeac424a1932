"""Distillers: one file per method."""

from .base import DetrPoints, Distiller, DistillInputs, Requirements
from .cwd import CWD
from .drkd import DRKD
from .feature_mse import FeatureMSE
from .fgfi import FGFI
from .hgd import HGD
from .kd_detr import KDDETR
from .mgd import MGD
from .pkd import PKD

__all__ = [
    "CWD",
    "DRKD",
    "DetrPoints",
    "DistillInputs",
    "Distiller",
    "FGFI",
    "FeatureMSE",
    "HGD",
    "KDDETR",
    "MGD",
    "PKD",
    "Requirements",
]
