"""``DistillRetinaNet``: detectron2's RetinaNet with a teacher branch."""

from __future__ import annotations

from detectron2.modeling import RetinaNet

from .distill import DistillMixin


class DistillRetinaNet(DistillMixin, RetinaNet):
    """RetinaNet whose training losses include the distillers' terms.

    Inference is RetinaNet's own, unchanged.

    Args:
        teacher: the frozen teacher.
        distillers: distillers whose terms are added to the detection losses.
        nonfinite: ``"raise"`` (a non-finite distillation term stops training with its name
            and iteration) or ``"skip"`` (the iteration makes no update and is logged).
        max_consecutive_skips: with ``"skip"``, stop with an error naming the non-finite
            losses when more iterations than this are skipped in a row.
        **kwargs: RetinaNet's keyword arguments.
    """

    def _anchor_levels(self) -> list[str]:
        return list(self.head_in_features)

    def forward_training(self, images, features, predictions, gt_instances):
        losses = super().forward_training(images, features, predictions, gt_instances)
        anchors = self.anchor_generator(features) if self._needs_anchors else None
        losses.update(
            self.distill_losses(
                images,
                self._take_student_features(),
                gt_instances,
                anchors=anchors,
                anchor_levels=list(self.head_in_features),
            )
        )
        return self._finish_losses(losses)
