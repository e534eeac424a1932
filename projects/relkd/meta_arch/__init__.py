"""Distilling meta-architectures: detectron2 detectors plus a frozen teacher and distillers."""

from .dab_detr import DistillDABDETR
from .distill import DistillMixin
from .rcnn import DistillRCNN
from .retinanet import DistillFCOS, DistillRetinaNet


def _register() -> None:
    """Make ``cfg.MODEL.META_ARCHITECTURE = "DistillRCNN"`` (or ``"DistillRetinaNet"``) work
    with detectron2's yacs ``build_model`` (see :mod:`relkd.config`). DistillDABDETR and
    DistillFCOS are LazyConfig-only: neither relkd's DAB-DETR nor detectron2's FCOS has yacs
    keys."""
    from detectron2.modeling import META_ARCH_REGISTRY

    for cls in (DistillRCNN, DistillRetinaNet):
        if cls.__name__ not in META_ARCH_REGISTRY:
            META_ARCH_REGISTRY.register(cls)


_register()

__all__ = ["DistillDABDETR", "DistillFCOS", "DistillMixin", "DistillRCNN", "DistillRetinaNet"]
