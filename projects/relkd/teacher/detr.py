"""The passes a DETR teacher (relkd's ``DABDETR``) runs for KD-DETR: its encoder once per batch,
then its decoder from anchors the distiller chooses."""

from __future__ import annotations

import torch
from torch import nn

from .precision import to_fp32


class DetrPasses:
    """The DETR passes of a :class:`~relkd.teacher.Teacher`.

    The host provides ``model`` (a ``DABDETR``), ``precision()`` (the autocast context of its
    forward), ``ready_model()`` (the model, prepared at first use) and ``_teacher_input()``
    (the student's batch as the teacher's input, in its layout).
    """

    model: nn.Module

    @torch.no_grad()
    def detr_encode(self, images: torch.Tensor, image_sizes: list[tuple[int, int]]):
        """The teacher DETR's encoder output for the student's preprocessed ``(B, 3, H, W)``
        batch (in the teacher's precision: it only feeds :meth:`detr_decode`)."""
        model = self.ready_model()
        x = self._teacher_input(images, image_sizes)
        with self.precision():
            return model.encode(x, image_sizes)

    @torch.no_grad()
    def detr_decode(self, encoded, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher DETR's decoder pass from ``anchors`` (``(Q, 4)`` logit-space boxes):
        ``logits (L, B, Q, K)`` and ``boxes (L, B, Q, 4)``, fp32."""
        with self.precision():
            logits, boxes = self.ready_model().decode(encoded, anchors)
        return to_fp32(logits), to_fp32(boxes)

    @torch.no_grad()
    def detr_decode_sets(
        self, encoded, anchor_sets: list[torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`detr_decode` of each anchor set (``(Q_i, 4)`` each), in one decoder pass
        (``DABDETR.decode_sets``): ``[(logits (L, B, Q_i, K), boxes (L, B, Q_i, 4))]``, fp32."""
        with self.precision():
            outs = self.ready_model().decode_sets(encoded, anchor_sets)
        return [(to_fp32(logits), to_fp32(boxes)) for logits, boxes in outs]

    def detr_anchors(self) -> torch.Tensor:
        """The teacher DETR's learned anchors, ``(Q, 4)``, detached."""
        return self.model.refpoint_embed.weight.detach()
