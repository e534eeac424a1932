"""Detector pieces detectron2 lacks."""

from .resnet import resnet_stages

__all__ = ["resnet_stages"]
