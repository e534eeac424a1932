"""relkd: knowledge distillation for detectron2 object detectors."""

from .config import add_relkd_config
from .distillers import Distiller, DistillInputs
from .loading import CheckpointLoadError, TeacherLoadError
from .meta_arch import DistillDABDETR, DistillFCOS, DistillRCNN, DistillRetinaNet
from .teacher import Teacher

__version__ = "0.1.0"
__all__ = [
    "add_relkd_config",
    "CheckpointLoadError",
    "DistillDABDETR",
    "DistillFCOS",
    "DistillInputs",
    "DistillRCNN",
    "DistillRetinaNet",
    "Distiller",
    "Teacher",
    "TeacherLoadError",
]
