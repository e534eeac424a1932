"""What a distiller asks a meta-architecture for (:class:`Requirements`) and what it is given
in each iteration (:class:`DistillInputs`, with :class:`DetrPoints` for DETR decoder passes and
:class:`ModuleCall` for recorded student submodules); the input kinds are in :mod:`.kinds`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import torch

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
        inputs: input kinds it reads (``DistillInputs.get``), each registered with its
            provider in :data:`relkd.distillers.kinds.INPUT_KINDS` (``"anchors"``,
            ``"detr_points"``, ``"teacher_model"``, ``"images"``, or a kind its own module
            registers).
        student_modules: dotted names of student submodules (as in ``named_modules()``, e.g.
            ``"head.cls_subnet.5"``) whose calls in the training forward are recorded
            (``DistillInputs.student_modules``).
        anchors: the same as listing ``"anchors"`` in ``inputs`` (kept for distillers written
            for earlier relkd versions; both spellings compare equal).
        detr_points: the same as listing ``"detr_points"`` in ``inputs``.
    """

    student: tuple[str, ...] = ()
    teacher: tuple[str, ...] = ()
    anchors: bool = False
    detr_points: bool = False
    inputs: tuple[str, ...] = ()
    student_modules: tuple[str, ...] = ()

    def __post_init__(self):
        kinds = list(dict.fromkeys(self.inputs))
        for flag in ("anchors", "detr_points"):
            if getattr(self, flag) and flag not in kinds:
                kinds.append(flag)
            object.__setattr__(self, flag, flag in kinds)
        object.__setattr__(self, "inputs", tuple(sorted(kinds)))
        for name in ("student", "teacher", "student_modules"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

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
class ModuleCall:
    """One call of a recorded student submodule: its positional arguments and its output."""

    args: tuple
    output: Any


@dataclass
class DistillInputs:
    """What one training iteration offers a distiller (only what some distiller reads).

    Attributes:
        student_features: ``{name: (B, C_s, H_l, W_l)}`` for the names the distillers asked for.
        teacher_features: ``{name: (B, C_t, H_l', W_l')}``, detached.
        gt_instances: per-image ``Instances`` with ``gt_boxes`` and ``gt_classes``.
        anchors: the student's anchors, one ``Boxes`` of ``(H_l * W_l * A, 4)`` per level in
            ``anchor_levels`` order (RPN anchors for Faster R-CNN, head anchors for RetinaNet);
            ``None`` unless a distiller asked for them (the ``"anchors"`` kind).
        anchor_levels: feature names the anchor levels belong to.
        iteration: the training iteration (``EventStorage.iter``).
        detr_points: DETR decoder access, ``None`` unless a distiller asked for it (the
            ``"detr_points"`` kind).
        student_modules: ``{dotted name: [ModuleCall]}``, the calls of the student submodules
            the distillers asked for, in call order (one per FPN level for a shared head).
        provided: ``{kind: value}`` for every input kind some distiller asked for.
    """

    student_features: dict[str, torch.Tensor]
    teacher_features: dict[str, torch.Tensor]
    gt_instances: list
    anchors: list | None = None
    anchor_levels: list[str] | None = None
    iteration: int = 0
    detr_points: DetrPoints | None = None
    student_modules: dict[str, list[ModuleCall]] = field(default_factory=dict)
    provided: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        # the two kinds that are also fields: either spelling reads the same value
        for kind in ("anchors", "detr_points"):
            if getattr(self, kind) is None and kind in self.provided:
                setattr(self, kind, self.provided[kind])
            elif getattr(self, kind) is not None:
                self.provided.setdefault(kind, getattr(self, kind))

    def get(self, kind: str) -> Any:
        """The value of input kind ``kind`` in this iteration (declared in ``Requirements.inputs``
        by some distiller); a KeyError naming the kinds provided otherwise."""
        if kind not in self.provided:
            raise KeyError(
                f"input kind {kind!r} was not provided in this iteration (provided: "
                f"{sorted(self.provided)}); list it in the distiller's Requirements.inputs"
            )
        return self.provided[kind]
