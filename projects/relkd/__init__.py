"""relkd: knowledge distillation for detectron2 object detectors."""

from .distillers import Distiller, DistillInputs
from .meta_arch import DistillRCNN, DistillRetinaNet
from .teacher import Teacher, TeacherLoadError

__version__ = "0.1.0"
__all__ = [
    "DistillInputs",
    "DistillRCNN",
    "DistillRetinaNet",
    "Distiller",
    "Teacher",
    "TeacherLoadError",
]
