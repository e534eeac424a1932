"""FGD's foreground and background masks of one feature level from ground-truth boxes (Yang et
al., CVPR 2022; docs/methods.md, "FGD"). Pure tensor functions, re-exported by
:mod:`relkd.losses.fgd`."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def fgd_masks(
    boxes: Sequence[torch.Tensor],
    size: tuple[int, int],
    *,
    image_sizes: Sequence[tuple[int, int]] | None = None,
    stride: float | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """FGD's area-normalised foreground mask and normalised background mask of one level.

    A box ``(x0, y0, x1, y1)`` in input pixels is first put in feature cells, either as the
    official code does (``image_sizes``: ``x / w_img * W`` and ``y / h_img * H``, with
    ``(h_img, w_img)`` the image's own size, mmdet's ``img_shape``, and ``(H, W)`` the whole,
    padded map) or by the level's ``stride`` (``x / stride``). It then covers the rows
    ``floor(y0') .. ceil(y1')`` and the columns ``floor(x0') .. ceil(x1')``, both ends included
    (as the official slices ``[floor : ceil + 1]``), and gives each covered cell
    ``1 / (rows * cols)``, the counts including cells past the map's edge, computed in float32
    as the official code computes it. Where boxes overlap, a cell keeps the largest value (the
    smallest box's). The background is 1 on every cell no box covers, divided by the count of
    such cells in the image (left all 0 when there is none); an image without boxes has a 0
    foreground and a uniform background.

    With ``image_sizes``, an image smaller than the padded batch (detectron2 pads every image
    at the bottom/right to the largest one, rounded up to the size divisibility) has its boxes
    stretched over the whole map, as in the official code, whose ``img_shape`` is the resized
    image before padding. With ``stride`` the mask covers the cells under the box.

    Args:
        boxes: per image, ``(K_i, 4)`` xyxy boxes in input pixels (``K_i`` may be 0), inside
            the image (detectron2's mapper clips them).
        size: ``(H, W)`` of the feature map.
        image_sizes: per image, its ``(h, w)`` in input pixels before padding
            (``Instances.image_size``): the official mapping.
        stride: input pixels per feature cell: the mapping by stride. Give exactly one of
            ``image_sizes`` and ``stride``.
        dtype: the masks' dtype (the foreground's values are float32 numbers in it).
        device: where the masks live; ``None``: the boxes' device.

    Returns:
        ``(fg, bg)``, each ``(N, H, W)`` in ``dtype``.
    """
    if (image_sizes is None) == (stride is None):
        raise ValueError("fgd_masks: give exactly one of image_sizes and stride")
    if image_sizes is not None and len(image_sizes) != len(boxes):
        raise ValueError(
            f"fgd_masks: {len(boxes)} images of boxes but {len(image_sizes)} image sizes"
        )
    if stride is not None and not stride > 0:
        raise ValueError(f"fgd_masks: stride must be > 0, got {stride}")
    h, w = int(size[0]), int(size[1])
    if device is None:
        device = boxes[0].device if len(boxes) else torch.device("cpu")
    fg = torch.zeros(len(boxes), h, w, dtype=dtype, device=device)
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    for i, b in enumerate(boxes):
        if b.shape[0] == 0:
            continue
        b = b.to(device)
        if not b.is_floating_point():
            b = b.float()
        if image_sizes is not None:
            ih, iw = image_sizes[i]
            # the official order of operations: divide by the image size, then scale
            x0, x1 = b[:, 0] / iw * w, b[:, 2] / iw * w
            y0, y1 = b[:, 1] / ih * h, b[:, 3] / ih * h
        else:
            x0, y0, x1, y1 = (b[:, k] / stride for k in range(4))
        x0, y0 = torch.floor(x0).long(), torch.floor(y0).long()
        x1, y1 = torch.ceil(x1).long(), torch.ceil(y1).long()
        # 1 / rows / cols of integer tensors: float32, as the official area
        area = 1.0 / (y1 + 1 - y0) / (x1 + 1 - x0)
        in_y = (rows >= y0[:, None]) & (rows <= y1[:, None])  # (K, H)
        in_x = (cols >= x0[:, None]) & (cols <= x1[:, None])  # (K, W)
        cover = in_y[:, :, None] & in_x[:, None, :]  # (K, H, W)
        values = torch.where(cover, area.to(dtype)[:, None, None], 0.0)
        fg[i] = values.amax(dim=0)
    bg = (fg <= 0).to(dtype)
    # an image whose boxes cover every cell keeps an all-zero background
    bg = bg / bg.sum(dim=(1, 2), keepdim=True).clamp_min(1)
    return fg, bg
