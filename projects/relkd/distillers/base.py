"""The ``Distiller`` interface and the ``DistillInputs`` bundle a meta-architecture hands it."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import torch
from torch import nn

from ..utils.events import current_storage


def check_choice(owner: str, what: str, value, allowed) -> None:
    """Raise ``ValueError`` naming ``owner``'s argument ``what`` unless ``value`` is allowed."""
    if value not in allowed:
        raise ValueError(f"{owner}: {what} must be one of {allowed}, got {value!r}")


def check_nonnegative(owner: str, **values: float) -> None:
    """Raise ``ValueError`` naming the first of ``owner``'s arguments that is not a finite
    number ``>= 0`` (a string from a command-line override, a bool, NaN and inf included)."""
    for what, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(
                f"{owner}: {what} must be a number, got {value!r} ({type(value).__name__})"
            )
        if not math.isfinite(value):
            raise ValueError(f"{owner}: {what} must be a finite number, got {value}")
        if value < 0:
            raise ValueError(f"{owner}: {what} must be >= 0, got {value}")


def check_whole_number(name: str, value, minimum: int = 0) -> int:
    """``value`` as an ``int``; ``ValueError`` naming the setting ``name`` unless it is a whole
    number ``>= minimum`` (``2.0`` passes; ``2.5``, ``"3"`` and ``True`` do not)."""
    whole = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not whole or not math.isfinite(value) or value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def names_list(owner: str, what: str, value) -> list[str] | None:
    """``value`` (a list of feature names, or ``None``) as a list; a bare string such as
    ``student_features=p3`` from a command-line override is refused, not split into letters."""
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        hint = f"; write [{value!r}] for one name" if isinstance(value, str) else ""
        raise ValueError(f"{owner}: {what} must be a list of feature names, got {value!r}{hint}")
    return list(value)


@dataclass
class DistillInputs:
    """Everything one training iteration offers a distiller.

    Attributes:
        images: the student's preprocessed batch, ``(B, 3, H, W)``.
        image_sizes: unpadded ``(h, w)`` per image.
        student_features: ``{name: (B, C_s, H_l, W_l)}`` for the names the distillers asked for.
        teacher_features: ``{name: (B, C_t, H_l', W_l')}``, detached.
        gt_instances: per-image ``Instances`` with ``gt_boxes`` and ``gt_classes``.
        anchors: the student's anchors, one ``Boxes`` of ``(H_l * W_l * A, 4)`` per level in
            ``anchor_levels`` order (RPN anchors for Faster R-CNN, head anchors for RetinaNet);
            ``None`` unless a distiller asked for them.
        anchor_levels: feature names the anchor levels belong to.
        proposals: RPN proposals (Faster R-CNN only), or ``None``.
        iteration: the training iteration (``EventStorage.iter``).
        extras: anything a meta-architecture adds for specific distillers.
    """

    images: torch.Tensor
    image_sizes: list[tuple[int, int]]
    student_features: dict[str, torch.Tensor]
    teacher_features: dict[str, torch.Tensor]
    gt_instances: list
    anchors: list | None = None
    anchor_levels: list[str] | None = None
    proposals: list | None = None
    iteration: int = 0
    extras: dict = field(default_factory=dict)


class Distiller(nn.Module):
    """Base class of all distillers.

    A subclass sets ``name``, lists what it needs in :meth:`required_features`, builds its
    trainable modules in :meth:`setup` (called once by the meta-architecture, which knows the
    student's and teacher's feature shapes) and returns its *unweighted* terms from
    :meth:`compute`. :meth:`forward` applies ``loss_weight`` and the warm-up and prefixes keys.

    Args:
        loss_weight: global multiplier of every term.
        warmup_iters: terms are multiplied by 0 (keys and graph kept) before this iteration.
    """

    name: str = "distiller"

    def __init__(self, *, loss_weight: float = 1.0, warmup_iters: int = 0):
        super().__init__()
        check_nonnegative(type(self).__name__, loss_weight=loss_weight)
        self.loss_weight = float(loss_weight)
        name = f"{type(self).__name__}: warmup_iters"
        self.warmup_iters = check_whole_number(name, warmup_iters)

    def required_features(self) -> dict:
        """``{"student": [names], "teacher": [names], "anchors": bool}``."""
        return {"student": [], "teacher": [], "anchors": False}

    def loss_keys(self) -> list[str]:
        """The exact keys :meth:`forward` returns (checked for collisions across distillers)."""
        return [f"loss_{self.name}_{t}" for t in self.terms()]

    def terms(self) -> list[str]:
        raise NotImplementedError

    def setup(
        self, student_shapes: dict, teacher_shapes: dict, *, anchor_levels: list[str] | None = None
    ) -> None:
        """Check feature names and channels; build adapters.

        Args:
            student_shapes: ``{name: ShapeSpec}`` of every feature the student can produce.
            teacher_shapes: the same for the teacher.
            anchor_levels: the feature names the student's anchors live on (RPN or head).
        """
        req = self.required_features()
        for side, shapes in (("student", student_shapes), ("teacher", teacher_shapes)):
            missing = [n for n in req.get(side, []) if n not in shapes]
            if missing:
                raise ValueError(
                    f"{type(self).__name__}: the {side} produces no feature(s) {missing}; "
                    f"available: {sorted(shapes)}"
                )

    def check_strides(self, student_shapes: dict, teacher_shapes: dict, pairs) -> None:
        """Raise unless each ``(student name, teacher name)`` pair shares its stride."""
        for s, t in pairs:
            a, b = student_shapes[s].stride, teacher_shapes[t].stride
            if a != b:
                raise ValueError(
                    f"{type(self).__name__}: student {s!r} has stride {a} but teacher {t!r} has "
                    f"stride {b}; pair features of the same stride"
                )

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """Unweighted loss terms ``{term: scalar}``."""
        raise NotImplementedError

    def log(self, stat: str, value: float) -> None:
        """Put a diagnostic scalar ``relkd/<name>/<stat>`` into the current EventStorage."""
        storage = current_storage()
        if storage is not None:
            storage.put_scalar(f"relkd/{self.name}/{stat}", float(value))

    def weight_at(self, iteration: int) -> float:
        return 0.0 if iteration < self.warmup_iters else self.loss_weight

    def forward(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        terms = self.compute(inputs)
        w = self.weight_at(inputs.iteration)
        return {f"loss_{self.name}_{k}": v * w for k, v in terms.items()}
