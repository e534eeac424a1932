"""Sine embeddings of normalised coordinates, shared by the memory positions and the anchors.

The memory's positional embedding and the anchors' query embedding use the same function, so a
query whose anchor centre equals a pixel's normalised position has the same positional code as
that pixel (what DAB-DETR's conditional cross-attention relies on). Channels are ordered x before
y (the official code puts y first): a fixed permutation that the learned layers reading them
absorb.
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
        ``(B, H * W, 2 * num_feats)``: the embedding of the pixels ``(x, y)``, normalised by
        each image's unpadded extent as the official DAB-DETR does (``PositionEmbeddingSineHW``,
        ``normalize=True``): the ``i``-th pixel (from 0) of an image ``H`` pixels high is at
        ``(i + 1) / H``, so its last pixel is at 1.
    """
    valid = (~mask).float()
    y = valid.cumsum(1)
    x = valid.cumsum(2)
    # the running count over each image's last count; the official 1e-6 keeps a padding-only
    # column (count 0) at 0
    y = y / (y[:, -1:, :] + 1e-6)
    x = x / (x[:, :, -1:] + 1e-6)
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
