"""``DistillMixin``: the teacher branch shared by every distilling meta-architecture."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from detectron2.config import configurable
from torch import nn

from ..config import MAX_CONSECUTIVE_SKIPS
from ..distillers.base import Distiller, DistillInputs
from ..distillers.kinds import Step
from ..teacher import InputSpec, Teacher
from ..utils.events import Stopwatch, current_storage
from ..utils.features import feature_shapes, record_features
from .calibration import AutoCalibration
from .nonfinite import NonFiniteGuard
from .provided import check_inputs, provide, record_calls


class DistillMixin(NonFiniteGuard, AutoCalibration):
    """Adds a frozen teacher and a list of distillers to a detectron2 meta-architecture.

    The host class must define ``backbone``, ``pixel_mean``, ``pixel_std`` and ``device``.
    Besides its features, it provides the ``Requirements.inputs`` kinds registered in
    ``relkd.distillers.INPUT_KINDS`` (this package's own are in :mod:`.provided` and
    :mod:`.dab_detr`) and the calls of the student submodules that distillers name (recorded
    by :mod:`.provided`).
    """

    provides_detr_points = False  # True where the host hands distillers DETR decoder passes

    @configurable
    def __init__(
        self,
        *,
        teacher: Teacher,
        distillers: Sequence[Distiller],
        nonfinite: str = "raise",
        max_consecutive_skips: int = MAX_CONSECUTIVE_SKIPS,
        grad_log_period: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)  # the detector's own constructor
        self._check_teacher(teacher)
        self._init_distill(
            teacher, distillers, self._anchor_levels(), nonfinite, max_consecutive_skips
        )
        self._init_grad_log(grad_log_period)
        self._student_store: dict = {}
        self._student_calls: dict = {}

    @classmethod
    def from_config(cls, cfg) -> dict:
        """yacs construction (``build_model(cfg)``): the host's ``MODEL.*`` arguments plus the
        teacher and distillers of ``cfg.RELKD`` (see :mod:`relkd.config`)."""
        from .yacs import relkd_kwargs

        host = getattr(super(), "from_config", None)
        if host is None:
            raise TypeError(f"{cls.__name__} has no yacs construction; build it from a LazyConfig")
        relkd = relkd_kwargs(cfg)  # first: its errors say what is missing from cfg.RELKD
        return {**host(cfg), **relkd}

    def _check_teacher(self, teacher: Teacher) -> None:
        """Host-specific checks of the teacher, before anything is built."""

    def _anchor_levels(self) -> list[str]:
        """The feature names the student's anchors live on (none by default)."""
        return []

    def _anchor_generator(self) -> nn.Module:
        """The student's anchor generator on :meth:`_anchor_levels` (the ``"anchors"`` kind)."""
        raise NotImplementedError(f"{type(self).__name__} has no anchors")

    def forward(self, batched_inputs):
        """The host's ``forward``; in training, its named features are recorded into
        ``self._student_store`` on the way (read back with :meth:`_take_student_features` by
        the host's training branch). Hosts whose training branch is re-implemented (
        ``DistillRCNN``) override this."""
        if not self.training:
            return super().forward(batched_inputs)
        with self._record_student():
            return super().forward(batched_inputs)

    @torch.no_grad()
    def teacher_forward(self, batched_inputs: list[dict]) -> None:
        """Run exactly the teacher work of one training step on ``batched_inputs`` and nothing
        else (``tools/benchmark.py`` times it against the full step)."""
        self._run_teacher(self.preprocess_image(batched_inputs))

    def _run_teacher(self, images) -> dict[str, torch.Tensor]:
        """The teacher features the distillers asked for; none (and no teacher run) when no
        distiller uses one (KD-DETR)."""
        if not self._teacher_names:
            return {}
        with torch.profiler.record_function("relkd/teacher"):
            return self.teacher.features(images.tensor, images.image_sizes, self._teacher_names)

    def _take_student_features(self) -> dict:
        store, self._student_store = self._student_store, {}
        return store

    def _init_distill(
        self,
        teacher: Teacher,
        distillers: Sequence[Distiller],
        anchor_levels: list[str],
        nonfinite: str = "raise",
        max_consecutive_skips: int = MAX_CONSECUTIVE_SKIPS,
    ) -> None:
        self._init_nonfinite(nonfinite, max_consecutive_skips)
        if not isinstance(teacher, Teacher):
            raise TypeError(f"teacher must be a relkd.Teacher, got {type(teacher).__name__}")
        # a plain attribute: not a submodule, so not in state_dict(), parameters() or DDP
        self.teacher = teacher.attach(InputSpec.of(self))
        if isinstance(distillers, nn.Module) or not isinstance(distillers, Sequence):
            what = type(distillers).__name__
            raise TypeError(
                f"distillers must be a list of Distillers, got a single {what}: write "
                f"model.distillers = [L({what})(...)]"
            )
        self.distillers = nn.ModuleList(distillers)
        seen: dict[str, str] = {}
        for d in self.distillers:
            if not isinstance(d, Distiller):
                raise TypeError(f"distillers must be relkd Distillers, got {type(d).__name__}")
            for key in d.loss_keys():
                if key in seen:
                    raise ValueError(
                        f"Distillers {seen[key]} and {type(d).__name__} both emit {key!r}; give "
                        "one of them another `name`"
                    )
                seen[key] = type(d).__name__
        student_shapes = feature_shapes(self.backbone)
        teacher_shapes = teacher.feature_shapes()
        for d in self.distillers:
            d.setup(student_shapes, teacher_shapes, anchor_levels=list(anchor_levels))
        req = [d.requirements() for d in self.distillers]
        self._student_names = sorted({n for r in req for n in r.student})
        self._teacher_names = sorted({n for r in req for n in r.teacher})
        self._input_kinds, self._module_names = check_inputs(self, self.distillers, req)
        self._anchor_names = list(anchor_levels)
        self._local_iter = 0
        self.teacher.to(self.pixel_mean.device)

    def _apply(self, fn, *args, **kwargs):
        # `model.to(device)` / `.cuda()` move the teacher too (device only: it stays in fp32)
        out = super()._apply(fn, *args, **kwargs)
        if "teacher" in self.__dict__:
            self.teacher.to(self.pixel_mean.device)
        return out

    @contextmanager
    def _record_student(self):
        """Context manager recording, during the student's forward, every named feature into
        ``self._student_store`` and the calls of the submodules that distillers name into
        ``self._student_calls`` (both emptied first)."""
        self._student_store, self._student_calls = {}, {}
        with record_features(self.backbone, self._student_store):
            with record_calls(self, self._module_names, self._student_calls):
                yield

    def _iteration(self) -> int:
        storage = current_storage()
        return storage.iter if storage is not None else self._local_iter

    def distill_losses(
        self, images, student_features: dict[str, torch.Tensor], gt_instances: list, **state
    ) -> dict[str, torch.Tensor]:
        """Run the teacher and every distiller; return their weighted loss terms.

        Args:
            images: the student's ``ImageList``.
            student_features: every named student feature of this forward (FPN levels and,
                when recorded, bottom-up stages).
            gt_instances: per-image ground truth.
            **state: what the host's training branch hands the input kinds' providers
                (:attr:`relkd.distillers.kinds.Step.state`).
        """
        self._check_skip_honoured()
        device = self.pixel_mean.device
        teacher_watch = Stopwatch(device)
        with teacher_watch:
            teacher_feats = self._run_teacher(images)
        iteration = self._iteration()
        step = Step(self, self.teacher, images, student_features, gt_instances, iteration, state)
        calls, self._student_calls = self._student_calls, {}
        inputs = DistillInputs(
            student_features={n: student_features[n] for n in self._student_names},
            teacher_features=teacher_feats,
            gt_instances=gt_instances,
            anchor_levels=self._anchor_names,
            iteration=iteration,
            student_modules={n: calls.get(n, []) for n in self._module_names},
            provided=provide(self._input_kinds, step),
        )
        losses: dict[str, torch.Tensor] = {}
        watches, logs = {}, {}
        for d in self.distillers:
            watches[d.name] = Stopwatch(device)
            with watches[d.name], torch.profiler.record_function(f"relkd/{d.name}"):
                losses.update(d(inputs))
            logs.update({f"relkd/{d.name}/{k}": v for k, v in d.take_logs().items()})
        self._check_finite(losses, logs, inputs.iteration)
        storage = current_storage()
        if storage is not None:
            if self._teacher_names:
                storage.put_scalar("relkd/teacher/ms", teacher_watch.ms())
            for name, watch in watches.items():
                storage.put_scalar(f"relkd/{name}/ms", watch.ms())
            for key, value in logs.items():
                storage.put_scalar(key, value)
        self._local_iter += 1
        return losses

    def _finish_losses(self, losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The host's last step on its training losses (detection and distillation together):
        the calibration of ``loss_weight="auto"`` distillers still in their window, the
        gradient log of ``grad_log_period``, then the ``nonfinite`` policy."""
        self._calibrate_pending(losses)
        self._log_grad_ratios(losses)
        return self._guard_nonfinite(losses)
