"""Detector pieces detectron2 lacks."""

from .dab_detr import DABDETR, HungarianMatcher, SetCriterion
from .resnet import resnet_stage_nodes, resnet_stages

__all__ = ["DABDETR", "HungarianMatcher", "SetCriterion", "resnet_stage_nodes", "resnet_stages"]
