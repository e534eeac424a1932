"""The ``Distiller`` interface; the ``DistillInputs`` bundle a meta-architecture hands it and
the ``Requirements`` it answers are in :mod:`.inputs` (their names are public here too)."""

from __future__ import annotations

import torch
from torch import nn

from .auto_weight import AutoWeight
from .checks import check_nonnegative, check_range, check_whole_number
from .inputs import DetrPoints, DistillInputs, Requirements

__all__ = [
    "AUTO_TARGET_RATIO",
    "AUTO_WINDOW",
    "DetrPoints",
    "DistillInputs",
    "Distiller",
    "Requirements",
]

# loss_weight="auto": the default distillation / detection gradient-norm ratio of a distiller
# that does not set its own default_target_ratio (FGFI and KD-DETR 4, HGD-R 0.1), and the
# window; docs/distillers.md, "loss_weight='auto'", gives the measurements that chose them
AUTO_TARGET_RATIO = 0.8
AUTO_WINDOW = 20


class Distiller(nn.Module):
    """Base class of all distillers.

    A subclass sets ``name``, says what it reads in :meth:`required_features`, settles what
    depends on the student in :meth:`resolve` and builds its trainable modules in :meth:`build`
    (both called once by :meth:`setup`, from the meta-architecture, which knows the student's and
    teacher's feature shapes), and returns its *unweighted* terms from :meth:`compute`.
    :meth:`forward` applies ``loss_weight`` and the warm-up and prefixes keys.

    Args:
        loss_weight: global multiplier of every term, or ``"auto"``: measured after the
            warm-up so that the terms' gradient norm on the student is ``target_ratio`` times
            the detection losses' (:mod:`relkd.distillers.auto_weight`), then frozen.
        warmup_iters: terms are multiplied by 0 (keys and graph kept) before this iteration.
        target_ratio: with ``"auto"``, the distillation / detection gradient-norm ratio;
            ``None``: the class's ``default_target_ratio`` (:data:`AUTO_TARGET_RATIO` unless a
            distiller measured another, as FGFI, HGD-R and KD-DETR did).
        auto_window: with ``"auto"``, the iterations measured after the warm-up (the terms
            are multiplied by 0 meanwhile; each of them costs extra backward passes).
        per_term: with ``"auto"``, one weight per term (each term's gradient norm is
            ``target_ratio / n_terms`` times the detection one) instead of one weight that
            keeps the relative weights the distiller gives its terms.
        auto_track: with ``"auto"``, 0 (default): the weight is frozen after its window; ``K``
            (>= ``auto_window``): a new window every ``K`` iterations sets it again, so that
            the ratio stays near ``target_ratio`` through training.
    """

    name: str = "distiller"
    # loss_weight="auto" without a target_ratio aims for this ratio (docs/distillers.md)
    default_target_ratio: float = AUTO_TARGET_RATIO

    def __init__(
        self,
        *,
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        target_ratio: float | None = None,
        auto_window: int = AUTO_WINDOW,
        per_term: bool = False,
        auto_track: int = 0,
    ):
        super().__init__()
        owner = type(self).__name__
        if loss_weight == "auto":
            self.loss_weight: float | str = "auto"
        elif isinstance(loss_weight, str):
            raise ValueError(
                f"{owner}: loss_weight must be a number or 'auto', got {loss_weight!r}"
            )
        else:
            check_nonnegative(owner, loss_weight=loss_weight)
            self.loss_weight = float(loss_weight)
        self.warmup_iters = check_whole_number(f"{owner}: warmup_iters", warmup_iters)
        if target_ratio is None:
            target_ratio = self.default_target_ratio
        self.target_ratio = check_range(owner, "target_ratio", target_ratio, 0, include_low=False)
        self.auto_window = check_whole_number(f"{owner}: auto_window", auto_window, 1)
        if not isinstance(per_term, bool):
            raise ValueError(f"{owner}: per_term must be True or False, got {per_term!r}")
        self.per_term = per_term
        self.auto_track = check_whole_number(f"{owner}: auto_track", auto_track)
        self.auto: AutoWeight | None = None  # built by setup() when loss_weight == "auto"
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
        """The names of the terms :meth:`compute` returns, in its order."""
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
                both = sorted(set(student_shapes) & set(teacher_shapes))
                raise ValueError(
                    f"{type(self).__name__}: the {side} produces no feature(s) {missing}; "
                    f"available: {sorted(shapes)}. Features are paired by name; both models "
                    f"produce {both}: name those in the distiller's feature arguments (a "
                    "teacher of another detector family has other levels)"
                )
        self.build(student_shapes, teacher_shapes)
        if self.loss_weight == "auto":
            self.auto = AutoWeight(
                self.name,
                self.terms(),
                target_ratio=self.target_ratio,
                window=self.auto_window,
                per_term=self.per_term,
                track=self.auto_track,
            )

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
        """The unweighted loss terms of one iteration, ``{term: ()}`` (scalar tensors, one per
        name of :meth:`terms`)."""
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
        """The numeric weight at ``iteration`` (0 in the warm-up); see :attr:`auto` for
        ``loss_weight="auto"``."""
        if self.auto is not None:
            raise ValueError(f"{self.name}: loss_weight='auto' has no fixed weight; read .auto")
        return 0.0 if iteration < self.warmup_iters else self.loss_weight

    def forward(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """The weighted terms, ``{"loss_<name>_<term>": ()}``: :meth:`compute`'s terms times
        ``loss_weight`` (0 in the warm-up), or weighted by :attr:`auto`."""
        terms = self.compute(inputs)
        if self.auto is not None:
            active = inputs.iteration >= self.warmup_iters
            weighted = self.auto.weigh(terms, active, inputs.iteration)
        else:
            w = self.weight_at(inputs.iteration)
            weighted = {k: v * w for k, v in terms.items()}
        return {f"loss_{self.name}_{k}": v for k, v in weighted.items()}

    def pictures(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """What this distiller shows of a batch (``tools/visualize.py`` draws it); nothing by
        default. A key's first part says what the picture is, and so how it is drawn:

        - ``"mask/<level>"``: ``(B, H_l, W_l)`` in [0, 1], a map over each image of the batch;
        - ``"relation/<level>/<b>"``: ``(2, n_b, n_b)``, the student's and the teacher's
          relations between the ``n_b`` GT boxes of image ``b`` (rows sum to 1), in the order
          of its ``gt_classes``.
        """
        return {}
