"""Deployment of a distilled student without the teacher, the distillers or relkd: its
checkpoint, configs (LazyConfig and, for ``DefaultPredictor``, yacs) and TorchScript trace."""

from .predictor import write_predictor_config
from .student import export_student, student_config, trace_student, write_student_config

__all__ = [
    "export_student",
    "student_config",
    "trace_student",
    "write_predictor_config",
    "write_student_config",
]
