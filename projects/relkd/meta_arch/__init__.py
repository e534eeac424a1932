"""Distilling meta-architectures: detectron2 detectors plus a frozen teacher and distillers."""

from .dab_detr import DistillDABDETR
from .distill import DistillMixin
from .rcnn import DistillRCNN
from .retinanet import DistillRetinaNet

__all__ = ["DistillDABDETR", "DistillMixin", "DistillRCNN", "DistillRetinaNet"]
