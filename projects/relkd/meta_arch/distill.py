"""``DistillMixin``: the teacher branch shared by every distilling meta-architecture."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from detectron2.config import configurable
from torch import nn

from ..config import MAX_CONSECUTIVE_SKIPS
from ..distillers.base import DetrPoints, Distiller, DistillInputs
from ..teacher import InputSpec, Teacher
from ..utils.events import Stopwatch, current_storage, to_host
from ..utils.features import feature_shapes, record_features
from ..utils.grads import grad_norm, student_parameters
from .nonfinite import NonFiniteGuard


class DistillMixin(NonFiniteGuard):
    """Adds a frozen teacher and a list of distillers to a detectron2 meta-architecture.

    The host class must define ``backbone``, ``pixel_mean``, ``pixel_std`` and ``device``.
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
        **kwargs,
    ):
        super().__init__(**kwargs)  # the detector's own constructor
        self._check_teacher(teacher)
        self._init_distill(
            teacher, distillers, self._anchor_levels(), nonfinite, max_consecutive_skips
        )
        self._student_store: dict = {}

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

    def forward(self, batched_inputs):
        """The host's ``forward``; in training, its named features are recorded into
        ``self._student_store`` on the way (read back with :meth:`_take_student_features` by
        the host's training branch). Hosts whose training branch is re-implemented (
        ``DistillRCNN``) override this."""
        if not self.training:
            return super().forward(batched_inputs)
        self._student_store = {}
        with self._record_student(self._student_store):
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
        self._needs_anchors = any(r.anchors for r in req)
        needs_points = [type(d).__name__ for d, r in zip(self.distillers, req) if r.detr_points]
        if needs_points and not self.provides_detr_points:
            raise ValueError(
                f"{needs_points} need DETR decoder passes, which {type(self).__name__} does not "
                "provide; use relkd.meta_arch.DistillDABDETR"
            )
        self._local_iter = 0
        self.teacher.to(self.pixel_mean.device)

    def _apply(self, fn, *args, **kwargs):
        # `model.to(device)` / `.cuda()` move the teacher too (device only: it stays in fp32)
        out = super()._apply(fn, *args, **kwargs)
        if "teacher" in self.__dict__:
            self.teacher.to(self.pixel_mean.device)
        return out

    def _record_student(self, store: dict):
        """Context manager recording every named student feature during its forward."""
        return record_features(self.backbone, store)

    def _iteration(self) -> int:
        storage = current_storage()
        return storage.iter if storage is not None else self._local_iter

    def distill_losses(
        self,
        images,
        student_features: dict[str, torch.Tensor],
        gt_instances: list,
        *,
        anchors: list | None = None,
        anchor_levels: list[str] | None = None,
        detr_points: DetrPoints | None = None,
    ) -> dict[str, torch.Tensor]:
        """Run the teacher and every distiller; return their weighted loss terms.

        Args:
            images: the student's ``ImageList``.
            student_features: every named student feature of this forward (FPN levels and,
                when recorded, bottom-up stages).
            gt_instances: per-image ground truth.
            anchors, anchor_levels, detr_points: see :class:`DistillInputs`.
        """
        self._check_skip_honoured()
        device = self.pixel_mean.device
        teacher_watch = Stopwatch(device)
        with teacher_watch:
            teacher_feats = self._run_teacher(images)
        inputs = DistillInputs(
            student_features={n: student_features[n] for n in self._student_names},
            teacher_features=teacher_feats,
            gt_instances=gt_instances,
            anchors=anchors,
            anchor_levels=anchor_levels,
            iteration=self._iteration(),
            detr_points=detr_points,
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
        the calibration of ``loss_weight="auto"`` distillers still in their window, then the
        ``nonfinite`` policy."""
        calibrating = [d for d in self.distillers if d.auto is not None and d.auto.pending]
        if calibrating:
            self._calibrate(losses, calibrating)
        return self._guard_nonfinite(losses)

    def _calibrate(self, losses: dict[str, torch.Tensor], distillers: list[Distiller]) -> None:
        """One step of the ``loss_weight="auto"`` window of each of ``distillers``: the
        gradient norm of the summed detection losses on the student's parameters, and that of
        each distiller's unweighted terms on the parameters they train, the student's and the
        distiller's own (adapters, relation units). Its own count because an adapter starts
        near zero (FGFI's, std 1e-4): until it has learnt, the terms send the student a small
        fraction of what they will, and a weight set from the student's share alone would be
        far too large (docs/distillers.md, "What R counts"). Extra backward passes, one plus
        one per distiller; the graph is kept for the step's own backward."""
        own = {k for d in self.distillers for k in d.loss_keys()}
        detection = [v for k, v in losses.items() if k not in own]
        student = student_parameters(self)
        with torch.profiler.record_function("relkd/auto_weight"):
            det_norm = grad_norm(sum(detection), student)
            for d in distillers:
                trained = student + [p for p in d.parameters() if p.requires_grad]
                d.auto.observe(det_norm, trained, self._iteration())

    def _check_finite(self, losses: dict, logs: dict, iteration: int) -> None:
        """Apply the ``nonfinite`` policy to the distillation terms and turn the distillers'
        device-side diagnostics in ``logs`` into floats, in place, through one device-to-host
        transfer: the only point where a distillation step makes the host wait for the device
        (a check per term would wait once per term)."""
        pending = [k for k, v in logs.items() if isinstance(v, torch.Tensor)]
        values = to_host(
            [torch.isfinite(v).all() for v in losses.values()] + [logs[k] for k in pending]
        )
        finite, diagnostics = values[: len(losses)], values[len(losses) :]
        logs.update(zip(pending, diagnostics))
        # only when a term is not finite: its value, read for the message
        bad = [(k, v.item()) for (k, v), ok in zip(losses.items(), finite) if not ok]
        if bad and self.nonfinite == "raise":
            raise FloatingPointError(
                f"Distillation term {bad[0][0]} is {bad[0][1]} at iteration {iteration} (set the "
                "model's nonfinite='skip' to skip such iterations)"
            )
        self._bad_terms = [f"{k}={v}" for k, v in bad]
