"""``DistillRetinaNet`` and ``DistillFCOS``: detectron2's one-stage detectors with a teacher
branch (both ``DenseDetector`` subclasses, distilled the same way)."""

from __future__ import annotations

from detectron2.modeling import FCOS, RetinaNet

from .distill import DistillMixin


class DenseDistillMixin(DistillMixin):
    """The teacher branch of a detectron2 ``DenseDetector`` (RetinaNet, FCOS): its training
    losses plus the distillers' terms; its anchors (the ``"anchors"`` input kind; FCOS: one
    point-sized box per location) are on ``head_in_features``. Inference is the detector's
    own, unchanged.

    Args:
        teacher: the frozen teacher.
        distillers: distillers whose terms are added to the detection losses.
        nonfinite: ``"raise"`` (a non-finite distillation term stops training with its name
            and iteration) or ``"skip"`` (the iteration makes no update and is logged).
        max_consecutive_skips: with ``"skip"``, stop with an error naming the non-finite
            losses when more iterations than this are skipped in a row.
        grad_log_period: every this many iterations, log the gradient norm that the
            detection losses and each distiller send into the student, and their ratio
            (``relkd/<name>/grad_ratio`` in ``metrics.json``); 0 (default): never.
        **kwargs: the detector's keyword arguments.
    """

    def _anchor_levels(self) -> list[str]:
        return list(self.head_in_features)

    def _anchor_generator(self):
        return self.anchor_generator

    def forward_training(self, images, features, predictions, gt_instances):
        losses = super().forward_training(images, features, predictions, gt_instances)
        store = self._take_student_features()
        losses.update(self.distill_losses(images, store, gt_instances))
        return self._finish_losses(losses)


class DistillRetinaNet(DenseDistillMixin, RetinaNet):
    """RetinaNet whose training losses include the distillers' terms (arguments: those of
    :class:`DenseDistillMixin`)."""


class DistillFCOS(DenseDistillMixin, FCOS):
    """FCOS whose training losses include the distillers' terms (arguments: those of
    :class:`DenseDistillMixin`). LazyConfig only, as detectron2's FCOS has no yacs keys."""
