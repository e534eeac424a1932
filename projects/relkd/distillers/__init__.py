"""Distillers: one file per method."""

from .base import Distiller, DistillInputs
from .drkd import DRKD
from .feature_mse import FeatureMSE
from .fgfi import FGFI
from .hgd import HGD

__all__ = ["DRKD", "FGFI", "DistillInputs", "Distiller", "FeatureMSE", "HGD"]
