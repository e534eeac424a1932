"""Masks over feature maps derived from ground-truth boxes."""

from __future__ import annotations

import torch


def box_foreground_mask(
    boxes: list[torch.Tensor], size: tuple[int, int], stride: float
) -> torch.Tensor:
    """Feature locations whose cell centre lies inside any GT box.

    Args:
        boxes: per image, ``(K_i, 4)`` xyxy boxes in input-image pixels (``K_i`` may be 0).
        size: ``(H, W)`` of the feature map.
        stride: input pixels per feature cell.

    Returns:
        ``(B, H, W)`` bool mask.
    """
    h, w = size
    device = boxes[0].device if boxes else torch.device("cpu")
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride
    out = torch.zeros(len(boxes), h, w, dtype=torch.bool, device=device)
    for i, b in enumerate(boxes):
        if len(b) == 0:
            continue
        b = b.float()
        in_y = (ys[None, :] >= b[:, 1:2]) & (ys[None, :] < b[:, 3:4])  # (K, H)
        in_x = (xs[None, :] >= b[:, 0:1]) & (xs[None, :] < b[:, 2:3])  # (K, W)
        out[i] = (in_y[:, :, None] & in_x[:, None, :]).any(0)
    return out
