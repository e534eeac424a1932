"""FGFI (Wang et al., CVPR 2019): the near-object imitation mask and the imitation loss.

Pure tensor functions; see docs/methods.md, "FGFI" (mask and loss).
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence


def imitation_mask(
    anchors: list[torch.Tensor],
    gt_boxes: torch.Tensor,
    psi: float = 0.5,
    per_level_max: bool = False,
) -> list[torch.Tensor]:
    """Locations whose anchors overlap some GT by more than ``psi`` times that GT's best IoU.

    For GT ``k`` with best anchor IoU ``M_k`` (over the anchors of all levels, or of each level
    with ``per_level_max``), a location is kept when any of its anchors has IoU ``> psi * M_k``
    (strict, as in the official code), OR-ed over GTs and anchors.

    Args:
        anchors: per level, ``(H_l, W_l, A, 4)`` xyxy anchors (all of them, in-image or not).
        gt_boxes: ``(K, 4)`` xyxy GT boxes of one image; ``K`` may be 0.
        psi: threshold factor in (0, 1].
        per_level_max: take ``M_k`` per level instead of over all levels.

    Returns:
        Per level, a bool ``(H_l, W_l)`` mask.
    """
    return [m[0] for m in imitation_masks(anchors, [gt_boxes], psi, per_level_max)]


def _pairwise_iou(anchors: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """``(N, 4)`` x ``(B, K, 4)`` xyxy -> ``(B, K, N)`` IoU, as ``torchvision.ops.box_iou``
    (a zero-area GT, including padding, has IoU 0 with every anchor). GT-major: the anchors run
    along the last, contiguous dimension of every intermediate."""
    ax1, ay1, ax2, ay2 = anchors.t().contiguous()  # (N,) each
    gx1, gy1, gx2, gy2 = (c[..., None] for c in gt.unbind(-1))  # (B, K, 1) each
    w = (torch.minimum(ax2, gx2) - torch.maximum(ax1, gx1)).clamp_(min=0)
    h = (torch.minimum(ay2, gy2) - torch.maximum(ay1, gy1)).clamp_(min=0)
    inter = w * h  # (B, K, N)
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (gx2 - gx1) * (gy2 - gy1) - inter)


def imitation_masks(
    anchors: list[torch.Tensor],
    gt_boxes: list[torch.Tensor],
    psi: float = 0.5,
    per_level_max: bool = False,
) -> list[torch.Tensor]:
    """:func:`imitation_mask` for a batch, in one pass over all images and levels.

    Args:
        anchors: per level ``(H_l, W_l, A, 4)``, shared by the images.
        gt_boxes: per image ``(K_b, 4)`` xyxy; images may have no box.

    Returns:
        Per level, a bool ``(B, H_l, W_l)`` mask.
    """
    if not 0 < psi <= 1:
        raise ValueError(f"imitation_mask: psi must be in (0, 1], got {psi}")
    shapes = [a.shape[:3] for a in anchors]
    device = anchors[0].device
    b, k = len(gt_boxes), max((len(g) for g in gt_boxes), default=0)
    if k == 0:
        return [torch.zeros((b, *s[:2]), dtype=torch.bool, device=device) for s in shapes]
    # images with fewer boxes are padded with zero-area boxes, which keep nothing
    gt = pad_sequence([g.float().to(device) for g in gt_boxes], batch_first=True)  # (B, K, 4)
    counts = [s[0] * s[1] * s[2] for s in shapes]
    iou = _pairwise_iou(torch.cat([a.reshape(-1, 4).float() for a in anchors]), gt)
    per_level = iou.split(counts, dim=2)  # (B, K, N_l) each
    best = torch.stack([x.amax(2) for x in per_level])  # (levels, B, K)
    thresholds = psi * (best if per_level_max else best.amax(0, keepdim=True))
    masks = []
    for x, thr, (h, w, a) in zip(per_level, thresholds.expand(len(counts), -1, -1), shapes):
        # a zero-area GT has M = 0 and IoU 0 everywhere: strict ">" keeps nothing for it
        hit = (x > thr[..., None]).any(1)  # (B, N_l)
        masks.append(hit.view(b, h, w, a).any(-1))
    return masks


def imitation_loss(
    student: list[torch.Tensor], teacher: list[torch.Tensor], masks: list[torch.Tensor]
) -> torch.Tensor:
    """``sum_l sum(mask_l * (s_l - t_l)^2) / (2 * N_p)``, ``N_p`` = masked locations, all levels.

    Args:
        student: per level ``(B, C, H_l, W_l)`` (already adapted).
        teacher: per level ``(B, C, H_l, W_l)``.
        masks: per level ``(B, H_l, W_l)`` bool or {0, 1}.

    Returns:
        A scalar; an exact 0 connected to ``student`` when no location is masked. No loss weight.
    """
    if not (len(student) == len(teacher) == len(masks)):
        raise ValueError(
            f"imitation_loss: {len(student)} student, {len(teacher)} teacher and "
            f"{len(masks)} mask levels"
        )
    total = student[0].new_zeros((), dtype=torch.float32)
    n_p = student[0].new_zeros((), dtype=torch.float32)
    for s, t, m in zip(student, teacher, masks):
        if s.shape != t.shape or s.shape[:1] + s.shape[2:] != m.shape:
            raise ValueError(
                f"imitation_loss: student {tuple(s.shape)}, teacher {tuple(t.shape)} and mask "
                f"{tuple(m.shape)} do not match"
            )
        mf = m.to(torch.float32)[:, None]
        total = total + ((s.float() - t.float()).pow(2) * mf).sum()
        n_p = n_p + mf.sum()
    # clamp, not a branch: no host sync, and N_p = 0 gives 0 * (...) which stays connected
    return total / (2 * n_p.clamp(min=1.0))
