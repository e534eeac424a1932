"""Input kinds: what a distiller can read besides named features and recorded module calls.

A distiller lists the kinds it reads in ``Requirements.inputs``; each kind is a function of the
training step (:class:`Step`) registered here under its name, and the distilling
meta-architecture calls the provider of every kind some distiller listed, once per step. A
method that needs something new registers its provider beside its distiller::

    from relkd.distillers.kinds import INPUT_KINDS

    @INPUT_KINDS.register("student_logits_p3")
    def _p3_logits(step):
        return step.model.head([step.features["p3"]])[0][0]

The kinds of relkd itself: ``images``, ``student_model`` and ``teacher_model`` (here), ``anchors``
(:mod:`relkd.meta_arch.provided`) and ``detr_points`` (:mod:`relkd.meta_arch.dab_detr`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass
class Step:
    """One training step of a distilling meta-architecture, as an input provider sees it.

    Attributes:
        model: the distilling meta-architecture (the student, in training mode).
        teacher: its :class:`relkd.Teacher`.
        images: the student's ``ImageList`` (``tensor (B, 3, H, W)``, ``image_sizes``).
        features: ``{name: (B, C, H_l, W_l)}``, every named student feature of this forward.
        gt_instances: per-image ground-truth ``Instances``.
        iteration: the training iteration.
        state: what the host's training branch hands over besides (``DistillDABDETR``: its
            encoder output as ``"detr_encoder"``).
    """

    model: nn.Module
    teacher: Any
    images: Any
    features: dict
    gt_instances: list
    iteration: int = 0
    state: dict = field(default_factory=dict)


Provide = Callable[[Step], Any]
# ``check(model) -> None`` when the meta-architecture can provide the kind, else the reason
Check = Callable[[nn.Module], "str | None"]


@dataclass(frozen=True)
class InputKind:
    """A registered kind: its name, its provider and the check of a meta-architecture."""

    name: str
    provide: Provide
    check: Check | None = None

    def refusal(self, model: nn.Module) -> str | None:
        """Why ``model`` cannot provide this kind, or None."""
        return self.check(model) if self.check is not None else None


class InputKinds:
    """The registry of input kinds, by name (:data:`INPUT_KINDS`)."""

    def __init__(self):
        self._kinds: dict[str, InputKind] = {}

    def register(self, name: str, *, check: Check | None = None) -> Callable[[Provide], Provide]:
        """Decorator: register ``provide(step) -> value`` as the kind ``name``; ``check(model)``
        returns why a meta-architecture cannot provide it (None: it can). A name is registered
        once: a second provider would silently change what an existing distiller reads."""

        def add(provide: Provide) -> Provide:
            if name in self._kinds:
                raise ValueError(f"input kind {name!r} is already registered")
            self._kinds[name] = InputKind(name, provide, check)
            return provide

        return add

    def __contains__(self, name: str) -> bool:
        return name in self._kinds

    def names(self) -> list[str]:
        """The registered kinds, sorted."""
        return sorted(self._kinds)

    def get(self, name: str) -> InputKind:
        """The kind ``name``; a KeyError naming the registered ones otherwise."""
        if name not in self._kinds:
            raise KeyError(
                f"no input kind {name!r}; registered: {self.names()} (a distiller that reads a "
                "new kind registers its provider with relkd.distillers.kinds.INPUT_KINDS)"
            )
        return self._kinds[name]


INPUT_KINDS = InputKinds()


@INPUT_KINDS.register("images")
def _images(step: Step):
    """The student's ``ImageList``."""
    return step.images


@INPUT_KINDS.register("student_model")
def _student_model(step: Step) -> nn.Module:
    """The distilling model itself (the student, in training mode): its modules' layout, as
    CrossKD reads its head's."""
    return step.model


@INPUT_KINDS.register("teacher_model")
def _teacher_model(step: Step) -> nn.Module:
    """The teacher's frozen detector, loaded and in eval mode (its modules, e.g. its head, can
    be applied to student features; their parameters take no gradient)."""
    return step.teacher.ready_model()
