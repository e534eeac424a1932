"""Sine embeddings of normalised coordinates, shared by the memory positions and the anchors.

The memory's positional embedding and the anchors' query embedding use the same function, so a
query whose anchor centre equals a pixel's centre has the same positional code as that pixel
(what DAB-DETR's conditional cross-attention relies on).
"""

from __future__ import annotations

import math

import torch


def sine_embed(coord: torch.Tensor, num_feats: int, temperature: float = 10000.0) -> torch.Tensor:
    """Embed coordinates in ``[0, 1]`` with interleaved sines and cosines.

    Args:
        coord: ``(...)`` values in ``[0, 1]``.
        num_feats: output size (even).

    Returns:
        ``(..., num_feats)``: ``sin(2 pi c / t_i), cos(2 pi c / t_i)`` for
        ``t_i = temperature ** (2 i / num_feats)``.
    """
    if num_feats % 2:
        raise ValueError(f"sine_embed: num_feats must be even, got {num_feats}")
    i = torch.arange(num_feats // 2, dtype=torch.float32, device=coord.device)
    dim_t = temperature ** (2 * i / num_feats)
    x = coord.float()[..., None] * (2 * math.pi) / dim_t
    return torch.stack((x.sin(), x.cos()), dim=-1).flatten(-2)


def memory_positions(
    mask: torch.Tensor, num_feats: int, temperature: float = 10000.0
) -> torch.Tensor:
    """Positional embedding of a feature map's pixels.

    Args:
        mask: ``(B, H, W)`` bool, True on padding.
        num_feats: channels per axis; the output has ``2 * num_feats``.

    Returns:
        ``(B, H * W, 2 * num_feats)``: the embedding of the pixel centres ``(x, y)``, normalised
        by each image's unpadded extent, so that 0 and 1 are the image borders.
    """
    valid = (~mask).float()
    y = valid.cumsum(1)
    x = valid.cumsum(2)
    # pixel centres in [0, 1] of each image's own (unpadded) height and width
    y = (y - 0.5) / y[:, -1:, :].clamp(min=1)
    x = (x - 0.5) / x[:, :, -1:].clamp(min=1)
    pos = torch.cat(
        (sine_embed(x, num_feats, temperature), sine_embed(y, num_feats, temperature)), dim=-1
    )
    return pos.flatten(1, 2)


def anchor_embed(
    anchors: torch.Tensor, num_feats: int, temperature: float = 10000.0
) -> torch.Tensor:
    """Embedding of 4-D anchors ``(cx, cy, w, h)`` in ``[0, 1]``.

    Args:
        anchors: ``(..., 4)``.

    Returns:
        ``(..., 4 * num_feats)``: the embeddings of ``cx, cy, w, h`` concatenated; the first
        ``2 * num_feats`` channels match :func:`memory_positions` for the same centre.
    """
    return torch.cat(
        [sine_embed(anchors[..., i], num_feats, temperature) for i in range(4)], dim=-1
    )
