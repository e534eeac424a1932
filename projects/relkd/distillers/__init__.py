"""Distillers: one file per method."""

from .base import DetrPoints, Distiller, DistillInputs, Requirements
from .crosskd import CrossKD
from .crosskd_rcnn import CrossKDROI
from .cwd import CWD
from .drkd import DRKD
from .feature_mse import FeatureMSE
from .fgd import FGD
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
    "CrossKD",
    "CrossKDROI",
    "DISTILLER_REGISTRY",
    "DRKD",
    "DetrPoints",
    "DistillInputs",
    "Distiller",
    "FGD",
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
