"""DRKD distances (METHODS.md 2.4-2.7): the code's unsquared Frobenius norm or a paper-style MSE."""

from __future__ import annotations

import torch

NORMS = ("fro", "mse")


def feature_distance(
    student: torch.Tensor, teacher: torch.Tensor, norm: str = "fro"
) -> torch.Tensor:
    """Distance between two same-shape tensors.

    Args:
        student: any shape, e.g. ``(B, C, H, W)`` or ``(n, C, 3, 3)``.
        teacher: same shape.
        norm: ``"fro"``: ``||s - t||_F`` over the whole tensor, not squared, not averaged
            (``torch.dist``, the official code); ``"mse"``: the mean of ``(s - t)^2``.

    Returns:
        A scalar in fp32.
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f"feature_distance: shapes differ, {tuple(student.shape)} vs {tuple(teacher.shape)}"
        )
    if norm == "fro":
        # torch.dist, as the official code; its gradient at identical inputs is exactly 0
        return torch.dist(student.float(), teacher.float(), p=2)
    if norm == "mse":
        return (student.float() - teacher.float()).pow(2).mean()
    raise ValueError(f"feature_distance: norm must be one of {NORMS}, got {norm!r}")
