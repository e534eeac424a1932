"""PKD: feature imitation through the Pearson correlation (Cao et al., NeurIPS 2022).

Each student and teacher level is standardised per channel (over the batch and the positions)
and the student imitates the teacher's standardised map, so that neither side's feature
magnitude matters. docs/methods.md, "PKD".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..losses.pkd import pkd_loss
from .base import DistillInputs
from .paired import PairedFeatureDistiller
from .registry import DISTILLER_REGISTRY


@DISTILLER_REGISTRY.register()
class PKD(PairedFeatureDistiller):
    """Pearson-correlation feature imitation, one term per feature pair.

    Loss keys: ``loss_pkd_<student feature>`` (``loss_pkd_p3`` ...), each the official
    per-level loss (:func:`~relkd.losses.pkd.pkd_loss`) times ``loss_weight``; the official
    code sums the levels' losses, as the total loss does here.

    Args:
        student_features: student feature names (default: the official RetinaNet setting, the
            first four FPN levels p3-p6; its Faster R-CNN setting is p2-p5).
        teacher_features: teacher feature names paired in order; defaults to the student's.
        loss_weight: the per-level weight (official: 10 for RetinaNet students, 6 for Faster
            R-CNN), or ``"auto"`` (:class:`~relkd.distillers.Distiller`).
        warmup_iters: terms are 0 before this iteration (official: none).
        name: loss-key prefix.
        **weighting: ``target_ratio``, ``auto_window``, ``per_term`` of
            :class:`~relkd.distillers.Distiller`, read with ``loss_weight="auto"``.
    """

    def __init__(
        self,
        *,
        student_features: Sequence[str] = ("p3", "p4", "p5", "p6"),
        teacher_features: Sequence[str] | None = None,
        loss_weight: float | str = 10.0,
        warmup_iters: int = 0,
        name: str = "pkd",
        **weighting,
    ):
        super().__init__(
            student_features=student_features,
            teacher_features=teacher_features,
            loss_weight=loss_weight,
            warmup_iters=warmup_iters,
            **weighting,
        )
        self.name = name

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{student feature: ()}``: PKD's loss between the (aligned) student map ``(B, C_t,
        H, W)`` and the teacher's."""
        return {s: pkd_loss(fs, ft) for s, fs, ft in self.aligned_pairs(inputs)}
