"""Distillers: one file per method."""

from .base import DetrPoints, Distiller, DistillInputs, Requirements
from .cwd import CWD
from .drkd import DRKD
from .feature_mse import FeatureMSE
from .fgfi import FGFI
from .hgd import HGD
from .inputs import ModuleCall
from .kd_detr import KDDETR
from .kinds import INPUT_KINDS, Step
from .mgd import MGD
from .pkd import PKD
from .registry import DISTILLER_REGISTRY, find_distiller

__all__ = [
    "CWD",
    "DISTILLER_REGISTRY",
    "DRKD",
    "DetrPoints",
    "DistillInputs",
    "Distiller",
    "FGFI",
    "FeatureMSE",
    "HGD",
    "INPUT_KINDS",
    "KDDETR",
    "MGD",
    "ModuleCall",
    "PKD",
    "Requirements",
    "Step",
    "find_distiller",
]
