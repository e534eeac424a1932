"""DRKD distances (docs/methods.md, "DRKD"): the code's unsquared Frobenius norm or a
paper-style MSE."""

from __future__ import annotations

from collections.abc import Sequence

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
            (the official code's ``torch.dist``); ``"mse"``: the mean of ``(s - t)^2``.

    Returns:
        A scalar in fp32.
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f"feature_distance: shapes differ, {tuple(student.shape)} vs {tuple(teacher.shape)}"
        )
    if norm == "fro":
        # the official code's torch.dist, written as the norm of the difference: the same value
        # and gradients (0 at identical inputs), but the backward scales the saved difference
        # instead of forming it again and dividing it element by element
        return torch.linalg.vector_norm(student.float() - teacher.float())
    if norm == "mse":
        return (student.float() - teacher.float()).pow(2).mean()
    raise ValueError(f"feature_distance: norm must be one of {NORMS}, got {norm!r}")


def grouped_distance(
    student: torch.Tensor, teacher: torch.Tensor, counts: Sequence[int], norm: str = "fro"
) -> torch.Tensor:
    """Sum over groups (images) of :func:`feature_distance` between their rows, in one pass.

    Args:
        student: ``(n, ...)``, the rows of every image stacked, e.g. ``(n, C, 3, 3)``.
        teacher: same shape.
        counts: rows per image, ``sum(counts) == n``; an empty image adds 0.
        norm: ``"fro"``: ``sum_b ||s_b - t_b||_F`` (the code's per-image ``torch.dist``; the
            gradient of an image whose rows are equal is 0); ``"mse"``: ``sum_b mean((s_b -
            t_b)^2)``.

    Returns:
        A scalar in fp32.
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f"grouped_distance: shapes differ, {tuple(student.shape)} vs {tuple(teacher.shape)}"
        )
    if sum(counts) != student.shape[0]:
        raise ValueError(
            f"grouped_distance: counts {list(counts)} sum to {sum(counts)}, not the "
            f"{student.shape[0]} rows"
        )
    if norm not in NORMS:
        raise ValueError(f"grouped_distance: norm must be one of {NORMS}, got {norm!r}")
    diff = (student.float() - teacher.float()).flatten(1)  # (n, D)
    # (images, max count, D), zero rows past each image's count
    padded = torch.nn.utils.rnn.pad_sequence(list(diff.split(list(counts))), batch_first=True)
    if norm == "fro":
        # vector_norm's gradient at a zero norm is 0, as torch.dist's
        return torch.linalg.vector_norm(padded, dim=(1, 2)).sum()
    sizes = torch.as_tensor(counts, device=diff.device, dtype=diff.dtype) * diff.shape[1]
    sums = padded.pow(2).sum(dim=(1, 2))
    return (sums / sizes.clamp_min(1)).sum()
