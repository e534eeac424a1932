"""Distances between student and teacher feature maps."""

from __future__ import annotations

import torch


def masked_mse(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error over channels and the masked locations.

    Args:
        student: ``(B, C, H, W)``.
        teacher: ``(B, C, H, W)``.
        mask: ``(B, H, W)`` bool or float weights, or ``None`` for every location.

    Returns:
        Scalar ``sum(mask * (s - t)^2) / (C * sum(mask))``; an exact 0 that is still connected
        to ``student`` when the mask is empty.
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f"masked_mse: shapes differ, {tuple(student.shape)} vs {tuple(teacher.shape)}"
        )
    sq = (student.float() - teacher.float()).pow(2)
    if mask is None:
        return sq.mean()
    m = mask.to(sq.dtype)[:, None]
    # clamp instead of a branch: no host sync, and an empty mask gives 0 * sq (still connected)
    return (sq * m).sum() / (m.sum() * sq.shape[1]).clamp(min=1.0)
