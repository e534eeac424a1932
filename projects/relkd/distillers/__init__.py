"""Distillers: one file per method."""

from .base import Distiller, DistillInputs
from .drkd import DRKD
from .feature_mse import FeatureMSE
from .fgfi import FGFI

__all__ = ["DRKD", "FGFI", "DistillInputs", "Distiller", "FeatureMSE"]
