"""Distillers: one file per method."""

from .base import DetrPoints, Distiller, DistillInputs, Requirements
from .drkd import DRKD
from .feature_mse import FeatureMSE
from .fgfi import FGFI
from .hgd import HGD
from .kd_detr import KDDETR

__all__ = [
    "DRKD",
    "DetrPoints",
    "DistillInputs",
    "Distiller",
    "FGFI",
    "FeatureMSE",
    "HGD",
    "KDDETR",
    "Requirements",
]
