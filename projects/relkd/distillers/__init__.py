"""Distillers: one file per method."""

from .base import Distiller, DistillInputs
from .feature_mse import FeatureMSE

__all__ = ["DistillInputs", "Distiller", "FeatureMSE"]
