"""The frozen teacher detector (:class:`Teacher`) and its pieces: building and loading
(:mod:`.build`), the student's batch as the teacher's input (:mod:`.inputs`), precision and
memory layout (:mod:`.precision`), the features handed over (:mod:`.capture`) and a DETR
teacher's passes (:mod:`.detr`)."""

# the loading names were public here too (relkd.teacher.load_strict, ...): kept for callers
from ..loading import (  # noqa: F401
    CheckpointLoadError,
    TeacherLoadError,
    build_model_from_config,
    is_yacs_file,
    load_strict,
    resolve_path,
)
from .frozen import Teacher
from .inputs import InputSpec
from .precision import TEACHER_DTYPES, weights_channels_last

__all__ = ["InputSpec", "TEACHER_DTYPES", "Teacher", "weights_channels_last"]
