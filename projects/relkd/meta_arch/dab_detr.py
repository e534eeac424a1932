"""``DistillDABDETR``: relkd's DAB-DETR with a teacher branch and KD-DETR's decoder passes."""

from __future__ import annotations

import torch

from ..distillers.base import DetrPoints
from ..distillers.kinds import INPUT_KINDS, Step
from ..modeling.dab_detr import DABDETR, EncoderOutput
from ..teacher import Teacher
from ..utils.events import Stopwatch, current_storage
from .distill import DistillMixin


class DistillDABDETR(DistillMixin, DABDETR):
    """DAB-DETR whose training losses include the distillers' terms.

    The student's encoder runs once; its own queries give the detection losses, and each
    KD-DETR point set is one more decoder pass on the same encoder output (separate passes, so
    distillation points never attend to detection queries). The teacher (a ``DABDETR``) encodes
    the same batch once, lazily, under ``no_grad``. Inference is ``DABDETR``'s own.

    Args:
        teacher: a frozen ``DABDETR`` teacher.
        distillers: e.g. ``[KDDETR()]``; feature distillers on backbone stages work too.
        nonfinite, max_consecutive_skips, grad_log_period: see ``DistillRetinaNet``.
        **kwargs: ``DABDETR``'s keyword arguments.
    """

    provides_detr_points = True

    def _check_teacher(self, teacher: Teacher) -> None:
        if isinstance(teacher, Teacher) and not isinstance(teacher.model, DABDETR):
            raise TypeError(
                f"DistillDABDETR needs a DABDETR teacher, got {type(teacher.model).__name__}"
            )
        if isinstance(teacher, Teacher) and teacher.model.num_classes != self.num_classes:
            raise ValueError(
                f"DistillDABDETR: the teacher has {teacher.model.num_classes} classes and the "
                f"student {self.num_classes}; KD-DETR compares their class logits one to one"
            )

    def _points(self, images, enc: EncoderOutput | None, cache: dict) -> DetrPoints:
        """Decoder access for KD-DETR; the teacher's passes are timed by ``cache["watch"]``."""
        watch = cache.setdefault("watch", Stopwatch(self.pixel_mean.device))

        def teacher_encoded():
            if "enc" not in cache:  # the teacher encodes the batch once, at first use
                cache["enc"] = self.teacher.detr_encode(images.tensor, images.image_sizes)
            return cache["enc"]

        def teacher_decode(anchors: torch.Tensor):
            with watch:
                return self.teacher.detr_decode(teacher_encoded(), anchors)

        def teacher_decode_sets(anchor_sets: list[torch.Tensor]):
            with watch:
                return self.teacher.detr_decode_sets(teacher_encoded(), anchor_sets)

        return DetrPoints(
            student=lambda anchors: self.decode(enc, anchors),
            teacher=teacher_decode,
            teacher_anchors=self.teacher.detr_anchors(),
            student_sets=lambda anchor_sets: self.decode_sets(enc, anchor_sets),
            teacher_sets=teacher_decode_sets,
        )

    @torch.no_grad()
    def teacher_forward(self, batched_inputs: list[dict]) -> None:
        images = self.preprocess_image(batched_inputs)
        self._run_teacher(images)  # feature distillers' teacher backbone, if any
        points = self._points(images, None, {})
        for d in self.distillers:
            if d.requirements().detr_points:
                anchors = [a for _, a in d.point_anchors(points)]
                points.decode("teacher", anchors, getattr(d, "one_pass", False))

    def forward_training(self, images, enc, outputs, gt_instances):
        losses = super().forward_training(images, enc, outputs, gt_instances)
        cache: dict = {}
        store = self._take_student_features()
        state = {"detr_encoder": enc, "detr_cache": cache}
        losses.update(self.distill_losses(images, store, gt_instances, **state))
        storage = current_storage()
        if storage is not None and "enc" in cache:
            # the teacher's encoder and decoder passes (read after distill_losses' transfer);
            # feature distillers' teacher backbone runs, if any, are logged under
            # relkd/teacher/ms by distill_losses
            key = "relkd/teacher_kd/ms" if self._teacher_names else "relkd/teacher/ms"
            storage.put_scalar(key, cache["watch"].ms())
        return self._finish_losses(losses)


def _points_refusal(model) -> str | None:
    if not getattr(model, "provides_detr_points", False):
        return (
            f"{type(model).__name__} does not provide (DETR decoder passes); use "
            "relkd.meta_arch.DistillDABDETR"
        )
    return None


@INPUT_KINDS.register("detr_points", check=_points_refusal)
def _detr_points(step: Step) -> DetrPoints:
    """Decoder access for KD-DETR on this step's encoder output (``DistillDABDETR``)."""
    state = step.state
    return step.model._points(step.images, state["detr_encoder"], state["detr_cache"])
