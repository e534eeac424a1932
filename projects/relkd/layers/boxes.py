"""Box-coordinate helpers shared by relkd's DAB-DETR and the KD-DETR distiller."""

from __future__ import annotations

import torch


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """``logit(x)`` with ``x`` clamped to ``[eps, 1 - eps]`` (any shape; element-wise).

    ``eps`` is the official DAB-DETR's (``util/misc.py``): the decoder adds this to its box
    offsets, so an anchor coordinate near 0 or 1 contributes at most ``log(1000)``, about 6.9, in
    size.
    """
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))
