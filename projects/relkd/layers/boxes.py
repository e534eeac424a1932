"""Box-coordinate helpers shared by relkd's DAB-DETR and the KD-DETR distiller."""

from __future__ import annotations

import torch


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``logit(x)`` with ``x`` clamped to ``[eps, 1 - eps]`` (any shape; element-wise)."""
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))
