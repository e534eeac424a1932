"""DAB-DETR for detectron2: anchor-box queries, split into ``encode`` and ``decode``."""

from .criterion import SetCriterion
from .detector import DABDETR, EncoderOutput
from .matcher import HungarianMatcher, assign, focal_class_cost, match_cost

__all__ = [
    "DABDETR",
    "EncoderOutput",
    "HungarianMatcher",
    "SetCriterion",
    "assign",
    "focal_class_cost",
    "match_cost",
]
