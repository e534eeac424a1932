"""``DistillRetinaNet``: detectron2's RetinaNet with a teacher branch."""

from __future__ import annotations

from collections.abc import Sequence

from detectron2.modeling import RetinaNet

from ..distillers.base import Distiller
from ..teacher import Teacher
from .distill import DistillMixin


class DistillRetinaNet(DistillMixin, RetinaNet):
    """RetinaNet whose training losses include the distillers' terms.

    Inference is RetinaNet's own, unchanged.

    Args:
        teacher: the frozen teacher.
        distillers: distillers whose terms are added to the detection losses.
        nonfinite: ``"raise"`` (a non-finite distillation term stops training with its name
            and iteration) or ``"skip"`` (the iteration makes no update and is logged).
        **kwargs: RetinaNet's keyword arguments.
    """

    def __init__(
        self,
        *,
        teacher: Teacher,
        distillers: Sequence[Distiller],
        nonfinite: str = "raise",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._init_distill(
            teacher, distillers, anchor_levels=self.head_in_features, nonfinite=nonfinite
        )
        self._student_store: dict = {}

    def forward(self, batched_inputs):
        if not self.training:
            return super().forward(batched_inputs)
        self._student_store = {}
        with self._record_student(self._student_store):
            return super().forward(batched_inputs)

    def forward_training(self, images, features, predictions, gt_instances):
        losses = super().forward_training(images, features, predictions, gt_instances)
        anchors = self.anchor_generator(features) if self._needs_anchors else None
        store, self._student_store = self._student_store, {}
        losses.update(
            self.distill_losses(
                images,
                store,
                gt_instances,
                anchors=anchors,
                anchor_levels=list(self.head_in_features),
            )
        )
        return self._guard_nonfinite(losses)
