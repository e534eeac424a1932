"""PKD (Cao et al., NeurIPS 2022): feature imitation through the Pearson correlation.

Pure tensor functions; see docs/methods.md, "PKD".
"""

from __future__ import annotations

import torch

# added to the standard deviation before dividing, as in the official code
PKD_EPS = 1e-6


def standardise(x: torch.Tensor, eps: float = PKD_EPS) -> torch.Tensor:
    """Each channel shifted to mean 0 and divided by its standard deviation plus ``eps``.

    The statistics of channel ``c`` are taken over the batch and both spatial dims together
    (``N * H * W`` values), with the unbiased standard deviation (``torch.std``'s default), as
    the official code computes them.

    Args:
        x: ``(N, C, H, W)``.
        eps: added to the standard deviation.

    Returns:
        ``(N, C, H, W)`` in float32 (float64 for a float64 ``x``).
    """
    if x.dim() != 4:
        raise ValueError(f"standardise: expected (N, C, H, W), got shape {tuple(x.shape)}")
    n, _, h, w = x.shape
    if n * h * w < 2:
        # the unbiased standard deviation of one value is NaN: refuse rather than train on it
        raise ValueError(
            f"standardise: a channel of shape {tuple(x.shape)} holds {n * h * w} value(s); the "
            "standard deviation needs at least 2 (batch x height x width)"
        )
    x = x.to(torch.promote_types(x.dtype, torch.float32))  # half precision computes in fp32
    mean = x.mean(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1)
    std = x.std(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1), unbiased
    return (x - mean) / (std + eps)


def pkd_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """PKD's loss on one level: half the mean squared error of the standardised maps.

    ``mean((std(s) - std(t))^2) / 2`` over all ``N * C * H * W`` elements, each map
    standardised per channel by :func:`standardise`. Per channel this is close to
    ``1 - r``, with ``r`` the Pearson correlation of the student's and the teacher's values over
    the batch and the positions (exactly ``(M - 1) / M * (1 - r)`` for ``M = N H W`` values
    without ``eps``), so the loss ignores each channel's scale and offset on either side.

    Args:
        student: ``(N, C, H, W)`` (already adapted to the teacher's channels).
        teacher: ``(N, C, H, W)``.

    Returns:
        A scalar in float32 (float64 for float64 inputs), without a loss weight: the official
        per-level value before its weight.
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f"pkd_loss: shapes differ, student {tuple(student.shape)} vs teacher "
            f"{tuple(teacher.shape)}"
        )
    return (standardise(student) - standardise(teacher)).pow(2).mean() / 2
