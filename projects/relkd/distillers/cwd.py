"""CWD: channel-wise distillation (Shu et al., ICCV 2021).

Each channel of a level becomes a distribution over the positions (a spatial softmax at
temperature ``tau``); the student matches the teacher's distributions by KL divergence, so it
learns where each teacher channel is active rather than its values. docs/methods.md, "CWD".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..losses.cwd import cwd_loss
from .base import DistillInputs
from .checks import check_range
from .paired import PairedFeatureDistiller
from .registry import DISTILLER_REGISTRY


@DISTILLER_REGISTRY.register()
class CWD(PairedFeatureDistiller):
    """Channel-wise KL divergence of spatial distributions, one term per feature pair.

    Loss keys: ``loss_cwd_<student feature>``, each the official per-level loss
    (:func:`~relkd.losses.cwd.cwd_loss`) times ``loss_weight``; the official code sums the
    levels' losses, as the total loss does here.

    Args:
        student_features: student feature names (default: every RetinaNet FPN level, p3-p7,
            as the official detection configs distil every level; Faster R-CNN: p2-p6).
        teacher_features: teacher feature names paired in order; defaults to the student's.
        tau: the softmax temperature (official detection configs: 1).
        loss_weight: the per-level weight (official detection configs: 10), or ``"auto"``.
        warmup_iters: terms are 0 before this iteration (official: none).
        name: loss-key prefix.
        **weighting: ``target_ratio``, ``auto_window``, ``per_term`` of
            :class:`~relkd.distillers.Distiller`, read with ``loss_weight="auto"``.
    """

    def __init__(
        self,
        *,
        student_features: Sequence[str] = ("p3", "p4", "p5", "p6", "p7"),
        teacher_features: Sequence[str] | None = None,
        tau: float = 1.0,
        loss_weight: float | str = 10.0,
        warmup_iters: int = 0,
        name: str = "cwd",
        **weighting,
    ):
        super().__init__(
            student_features=student_features,
            teacher_features=teacher_features,
            loss_weight=loss_weight,
            warmup_iters=warmup_iters,
            **weighting,
        )
        self.tau = check_range("CWD", "tau", tau, 0, include_low=False)
        self.name = name

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{student feature: ()}``: CWD's loss between the (aligned) student map ``(B, C_t,
        H, W)`` and the teacher's at temperature ``tau``."""
        return {s: cwd_loss(fs, ft, self.tau) for s, fs, ft in self.aligned_pairs(inputs)}
