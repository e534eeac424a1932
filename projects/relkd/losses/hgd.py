"""HGD-R (a reconstruction of HGD, Qin et al., ICME 2021): pure per-stage terms.

Only the paper's abstract is public; every choice here is relkd's (docs/methods.md, "HGD-R"), not
the paper's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MEASURES = ("l2", "smooth_l1")


def channel_standardize(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Standardise each channel of each image over its spatial positions.

    Args:
        x: ``(B, C, H, W)``.

    Returns:
        ``(B, C, H, W)`` in fp32 with zero mean and unit variance per ``(b, c)``.
    """
    x = x.float()
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean) / (var + eps).sqrt()


def imitation_map(
    student: torch.Tensor, teacher: torch.Tensor, measure: str = "l2"
) -> torch.Tensor:
    """Per-location discrepancy, averaged over channels.

    Args:
        student: ``(B, C, H, W)``, already adapted to the teacher's channels and size.
        teacher: ``(B, C, H, W)``.
        measure: ``"l2"``: ``mean_c (s - t)^2``; ``"smooth_l1"``: ``mean_c smoothL1(s - t)``
            (beta 1).

    Returns:
        ``(B, H, W)`` fp32.
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f"imitation_map: shapes differ, {tuple(student.shape)} vs {tuple(teacher.shape)}"
        )
    s, t = student.float(), teacher.float()
    if measure == "l2":
        return (s - t).pow(2).mean(1)
    if measure == "smooth_l1":
        return F.smooth_l1_loss(s, t, reduction="none", beta=1.0).mean(1)
    raise ValueError(f"imitation_map: measure must be one of {MEASURES}, got {measure!r}")


def reweighted_stage_loss(
    distance: torch.Tensor, foreground: torch.Tensor, alpha: float = 1.0, beta: float = 0.5
) -> torch.Tensor:
    """Micro re-weighting: foreground and background means, each over its own pixels.

    ``alpha * sum(G d) / max(1, sum G) + beta * sum((1 - G) d) / max(1, sum(1 - G))``, sums over
    the whole batch.

    Args:
        distance: ``(B, H, W)`` per-location discrepancy.
        foreground: ``(B, H, W)`` bool (or {0, 1}) foreground mask ``G``.
        alpha: foreground weight.
        beta: background weight.

    Returns:
        A scalar, connected to ``distance`` even when one of the two parts is empty.
    """
    if distance.shape != foreground.shape:
        raise ValueError(
            f"reweighted_stage_loss: distance {tuple(distance.shape)} and mask "
            f"{tuple(foreground.shape)} differ"
        )
    g = foreground.to(distance.dtype)
    bg = 1.0 - g
    fg_term = (g * distance).sum() / g.sum().clamp(min=1.0)
    bg_term = (bg * distance).sum() / bg.sum().clamp(min=1.0)
    return alpha * fg_term + beta * bg_term


def balanced_weights(running: torch.Tensor) -> torch.Tensor:
    """Macro re-weighting: ``lambda_k = mean_j r_j / r_k / K``, detached.

    With these weights every stage contributes ``mean_j r_j / K`` to the sum (when its loss is
    at its running level), so no stage dominates by magnitude alone.

    Args:
        running: ``(K,)`` positive running averages of the per-stage losses.

    Returns:
        ``(K,)`` weights without gradient; ``1/K`` each when all running averages are equal.
    """
    r = running.detach().float().clamp(min=1e-12)
    return (r.mean() / r / r.numel()).detach()
