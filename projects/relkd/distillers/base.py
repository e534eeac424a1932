"""The ``Distiller`` interface and the ``DistillInputs`` bundle a meta-architecture hands it."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import nn


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


def check_range(
    owner: str,
    what: str,
    value,
    low: float,
    high: float = math.inf,
    *,
    include_low: bool = True,
    include_high: bool = True,
) -> float:
    """``value`` as a ``float``; ``ValueError`` naming ``owner``'s argument ``what`` unless it
    is a number between ``low`` and ``high`` (each bound included or not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{owner}: {what} must be a number, got {value!r}")
    above = value >= low if include_low else value > low
    below = value <= high if include_high else value < high
    if not (above and below):
        if high == math.inf:
            bound = f"{'>=' if include_low else '>'} {low}"
        else:
            bound = f"in {'[(' [not include_low]}{low}, {high}{'])' [not include_high]}"
        raise ValueError(f"{owner}: {what} must be {bound}, got {value}")
    return float(value)


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


Decode = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
DecodeSets = Callable[[list[torch.Tensor]], list[tuple[torch.Tensor, torch.Tensor]]]


@dataclass
class DetrPoints:
    """Decoder access for distillers that query a DETR at chosen points (KD-DETR), built by
    ``DistillDABDETR`` for one iteration.

    Attributes:
        student: ``anchors (N, 4) unsigmoided -> (logits (L, B, N, K), boxes (L, B, N, 4))``,
            the student decoder on its own encoder output (with gradients).
        teacher: the same for the teacher (no gradients).
        teacher_anchors: ``(N_t, 4)`` the teacher's learned anchors, unsigmoided, detached.
        student_sets, teacher_sets: ``[anchors_i] -> [(logits_i, boxes_i)]``, several anchor
            sets in one decoder pass that keeps them apart (None: not offered); see
            :meth:`decode`.
    """

    student: Decode
    teacher: Decode
    teacher_anchors: torch.Tensor
    student_sets: DecodeSets | None = None
    teacher_sets: DecodeSets | None = None

    def decode(
        self, side: str, anchor_sets: list[torch.Tensor], together: bool = True
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``side``'s (``"student"`` or ``"teacher"``) outputs for each anchor set: in one pass
        when ``together`` and the model offers it, else one pass per set."""
        batched = getattr(self, f"{side}_sets")
        if together and batched is not None and len(anchor_sets) > 1:
            return batched(anchor_sets)
        single = getattr(self, side)
        return [single(anchors) for anchors in anchor_sets]


@dataclass(frozen=True)
class Requirements:
    """What a distiller reads in an iteration; the meta-architecture provides exactly that.

    Attributes:
        student: names of the student features it reads (``DistillInputs.student_features``).
        teacher: names of the teacher features (``DistillInputs.teacher_features``).
        anchors: whether it reads the student's anchors (``DistillInputs.anchors``).
        detr_points: whether it queries DETR decoders (``DistillInputs.detr_points``).
    """

    student: tuple[str, ...] = ()
    teacher: tuple[str, ...] = ()
    anchors: bool = False
    detr_points: bool = False

    def __post_init__(self):
        object.__setattr__(self, "student", tuple(self.student))
        object.__setattr__(self, "teacher", tuple(self.teacher))

    @classmethod
    def of(cls, value: Requirements | dict) -> Requirements:
        """``value`` as ``Requirements``; a dict with these keys (the form distillers written
        for earlier relkd versions return) is converted, an unknown key refused."""
        if isinstance(value, cls):
            return value
        unknown = set(value) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"required_features: unknown key(s) {sorted(unknown)}")
        return cls(**value)


@dataclass
class DistillInputs:
    """What one training iteration offers a distiller (only what some distiller reads).

    Attributes:
        student_features: ``{name: (B, C_s, H_l, W_l)}`` for the names the distillers asked for.
        teacher_features: ``{name: (B, C_t, H_l', W_l')}``, detached.
        gt_instances: per-image ``Instances`` with ``gt_boxes`` and ``gt_classes``.
        anchors: the student's anchors, one ``Boxes`` of ``(H_l * W_l * A, 4)`` per level in
            ``anchor_levels`` order (RPN anchors for Faster R-CNN, head anchors for RetinaNet);
            ``None`` unless a distiller asked for them.
        anchor_levels: feature names the anchor levels belong to.
        iteration: the training iteration (``EventStorage.iter``).
        detr_points: DETR decoder access, ``None`` unless a distiller asked for it.
    """

    student_features: dict[str, torch.Tensor]
    teacher_features: dict[str, torch.Tensor]
    gt_instances: list
    anchors: list | None = None
    anchor_levels: list[str] | None = None
    iteration: int = 0
    detr_points: DetrPoints | None = None


class Distiller(nn.Module):
    """Base class of all distillers.

    A subclass sets ``name``, says what it reads in :meth:`required_features`, settles what
    depends on the student in :meth:`resolve` and builds its trainable modules in :meth:`build`
    (both called once by :meth:`setup`, from the meta-architecture, which knows the student's and
    teacher's feature shapes), and returns its *unweighted* terms from :meth:`compute`.
    :meth:`forward` applies ``loss_weight`` and the warm-up and prefixes keys.

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
        self._logs: dict[str, torch.Tensor | float] = {}

    def required_features(self) -> Requirements:
        """What this distiller reads; valid once :meth:`resolve` has run."""
        return Requirements()

    def requirements(self) -> Requirements:
        """:meth:`required_features` as ``Requirements`` (a dict is accepted and converted)."""
        return Requirements.of(self.required_features())

    def loss_keys(self) -> list[str]:
        """The exact keys :meth:`forward` returns (checked for collisions across distillers)."""
        return [f"loss_{self.name}_{t}" for t in self.terms()]

    def terms(self) -> list[str]:
        raise NotImplementedError

    def setup(
        self, student_shapes: dict, teacher_shapes: dict, *, anchor_levels: list[str] | None = None
    ) -> None:
        """Called once by the meta-architecture: :meth:`resolve`, then the check that both
        models produce the required features, then :meth:`build`, in this order.

        Args:
            student_shapes: ``{name: ShapeSpec}`` of every feature the student can produce.
            teacher_shapes: the same for the teacher.
            anchor_levels: the feature names the student's anchors live on (RPN or head).
        """
        self.resolve(list(anchor_levels or []))
        req = self.requirements()
        for side, shapes in (("student", student_shapes), ("teacher", teacher_shapes)):
            missing = [n for n in getattr(req, side) if n not in shapes]
            if missing:
                raise ValueError(
                    f"{type(self).__name__}: the {side} produces no feature(s) {missing}; "
                    f"available: {sorted(shapes)}"
                )
        self.build(student_shapes, teacher_shapes)

    def resolve(self, anchor_levels: list[str]) -> None:
        """Settle what depends on the student before anything is checked or built (e.g. levels
        taken from the student's anchor levels); :meth:`required_features` reads the result."""

    def build(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Check the features' shapes and build the trainable modules (adapters, units)."""

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

    def log(self, stat: str, value: torch.Tensor | float) -> None:
        """Record a diagnostic scalar ``relkd/<name>/<stat>`` of this forward. A tensor stays on
        its device: the meta-architecture moves every recorded value to the host together, in
        the one transfer of its training step, and puts them into the current EventStorage
        (:meth:`take_logs`). Reading a device tensor here (``.item()``, ``float()``) would make
        the host wait for the device in every step."""
        self._logs[stat] = value.detach() if isinstance(value, torch.Tensor) else float(value)

    def take_logs(self) -> dict[str, torch.Tensor | float]:
        """The values :meth:`log` recorded since the last call, ``{stat: value}``; clears them."""
        logs, self._logs = self._logs, {}
        return logs

    def weight_at(self, iteration: int) -> float:
        return 0.0 if iteration < self.warmup_iters else self.loss_weight

    def forward(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        terms = self.compute(inputs)
        w = self.weight_at(inputs.iteration)
        return {f"loss_{self.name}_{k}": v * w for k, v in terms.items()}
