"""Spatial alignment of paired student/teacher maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def match_size(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop or zero-pad ``x`` (``(B, C, H, W)``) at the bottom/right to ``size``.

    Used when two maps share a stride but were padded to different size divisibilities: the
    top-left corner is the image in both, so cropping keeps cells aligned.
    """
    h, w = size
    x = x[..., :h, :w]
    if x.shape[-2:] != (h, w):
        x = F.pad(x, (0, w - x.shape[-1], 0, h - x.shape[-2]))
    return x


def valid_mask(image_sizes, height: int, width: int, device) -> torch.Tensor:
    """``(B, height, width)`` bool, True inside each image's unpadded ``(h, w)`` (top-left)."""
    # under torch.jit.trace, ImageList holds each size as a tensor
    sizes = torch.stack([torch.as_tensor(s, device=device) for s in image_sizes]).reshape(-1, 2)
    rows = torch.arange(height, device=device)[None, :, None] < sizes[:, 0, None, None]
    cols = torch.arange(width, device=device)[None, None, :] < sizes[:, 1, None, None]
    return rows & cols
