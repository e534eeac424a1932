"""CWD (Shu et al., ICCV 2021): channel-wise distillation of spatial distributions.

Pure tensor functions; see docs/methods.md, "CWD".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cwd_loss(student: torch.Tensor, teacher: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """The KL divergence between the teacher's and the student's per-channel spatial softmax.

    Each channel of each image is turned into a distribution over its ``H * W`` positions,
    ``softmax(x / tau)``; the loss is ``tau^2 / (N * C) * sum_{n, c} KL(p_t || p_s)``, the
    official value before its loss weight (a sum over positions, a mean over images and
    channels).

    Args:
        student: ``(N, C, H, W)`` (already adapted to the teacher's channels).
        teacher: ``(N, C, H, W)``.
        tau: the temperature, ``> 0``.

    Returns:
        A scalar in float32 (float64 for float64 inputs); 0 for identical maps.
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f"cwd_loss: shapes differ, student {tuple(student.shape)} vs teacher "
            f"{tuple(teacher.shape)}"
        )
    if not tau > 0:
        raise ValueError(f"cwd_loss: tau must be > 0, got {tau}")
    n, c, h, w = student.shape
    dtype = torch.promote_types(student.dtype, torch.float32)  # half precision in fp32
    # one row per (image, channel), one column per position
    log_p_s = F.log_softmax(student.to(dtype).reshape(n * c, h * w) / tau, dim=1)
    log_p_t = F.log_softmax(teacher.to(dtype).reshape(n * c, h * w) / tau, dim=1)
    # KL(p_t || p_s) = sum p_t (log p_t - log p_s), summed over every row
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum()
    return kl * (tau**2) / (n * c)
