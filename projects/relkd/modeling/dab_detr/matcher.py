"""Hungarian matching of predictions to ground truth (DETR), with the focal classification
cost DAB-DETR uses."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn
from torchvision.ops import box_convert, generalized_box_iou


def focal_class_cost(
    logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Cost of assigning each prediction to each target class.

    Args:
        logits: ``(N, K)`` class logits.
        labels: ``(M,)`` target classes.

    Returns:
        ``(N, M)``: the focal loss of calling the target's class positive minus that of
        calling it negative.
    """
    p = logits.float().sigmoid()
    eps = 1e-8
    neg = (1 - alpha) * p**gamma * -(1 - p + eps).log()
    pos = alpha * (1 - p) ** gamma * -(p + eps).log()
    return pos[:, labels] - neg[:, labels]


def match_cost(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    gt_boxes: torch.Tensor,
    weights: tuple[float, float, float] = (2.0, 5.0, 2.0),
) -> torch.Tensor:
    """DETR's matching cost for one image.

    Args:
        logits: ``(N, K)``; boxes: ``(N, 4)`` cxcywh in ``[0, 1]``.
        labels: ``(M,)``; gt_boxes: ``(M, 4)`` cxcywh in ``[0, 1]``.
        weights: class, L1 and GIoU cost weights.

    Returns:
        ``(N, M)`` cost.
    """
    w_cls, w_l1, w_giou = weights
    boxes, gt_boxes = boxes.float(), gt_boxes.float()
    l1 = torch.cdist(boxes, gt_boxes, p=1)
    giou = generalized_box_iou(
        box_convert(boxes, "cxcywh", "xyxy"), box_convert(gt_boxes, "cxcywh", "xyxy")
    )
    return w_cls * focal_class_cost(logits, labels) + w_l1 * l1 - w_giou * giou


def assign(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum-cost one-to-one assignment of an ``(N, M)`` cost matrix (``M <= N``).

    Returns:
        ``(pred_idx, gt_idx)``, int64 tensors of length ``min(N, M)``, sorted by ``pred_idx``.
    """
    return assign_many([cost])[0]


def assign_many(costs: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`assign` of each cost matrix, with one device-to-host transfer for all of them.

    The Hungarian algorithm runs on the host (scipy), so matching must wait for the device
    once; moving every matrix of a batch and of every decoder layer together makes that once
    per loss evaluation instead of once per image and layer.

    Args:
        costs: ``(N_i, M_i)`` cost matrices with ``M_i <= N_i``, on one device.

    Returns:
        per matrix, ``(pred_idx, gt_idx)`` as in :func:`assign` (on the CPU).
    """
    if not costs:
        return []
    flat = torch.cat([c.detach().float().reshape(-1) for c in costs]).numpy(force=True)
    if not np.isfinite(flat).all():
        raise FloatingPointError("Hungarian matching cost has non-finite entries")
    out, start = [], 0
    for c in costs:
        n, m = c.shape
        rows, cols = linear_sum_assignment(flat[start : start + n * m].reshape(n, m))
        start += n * m
        out.append(
            (torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64))
        )
    return out


class HungarianMatcher(nn.Module):
    """One-to-one matching of each image's predictions to its targets.

    Args:
        cost_class, cost_bbox, cost_giou: cost weights (DAB-DETR: 2, 5, 2).
    """

    def __init__(self, cost_class: float = 2.0, cost_bbox: float = 5.0, cost_giou: float = 2.0):
        super().__init__()
        self.weights = (float(cost_class), float(cost_bbox), float(cost_giou))

    @torch.no_grad()
    def forward(
        self, logits: torch.Tensor, boxes: torch.Tensor, targets: list[dict]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Match a batch.

        Args:
            logits: ``(B, N, K)``; boxes: ``(B, N, 4)`` cxcywh in ``[0, 1]``.
            targets: per image ``{"labels": (M,), "boxes": (M, 4) cxcywh in [0, 1]}``.

        Returns:
            Per image ``(pred_idx, gt_idx)``; empty tensors for an image without targets.
        """
        return self.match_layers(logits[None], boxes[None], targets)[0]

    @torch.no_grad()
    def match_layers(
        self, logits: torch.Tensor, boxes: torch.Tensor, targets: list[dict]
    ) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        """:meth:`forward` for a stack of decoder layers, the host reached once for all.

        Args:
            logits: ``(L, B, N, K)``; boxes: ``(L, B, N, 4)``; targets: as in :meth:`forward`.

        Returns:
            ``out[l][b]``: layer ``l``'s ``(pred_idx, gt_idx)`` of image ``b``.
        """
        device = logits.device
        pairs = [(layer, b) for layer in range(logits.shape[0]) for b in range(len(targets))]
        pairs = [(layer, b) for layer, b in pairs if len(targets[b]["labels"]) > 0]
        costs = [
            match_cost(
                logits[i, b], boxes[i, b], targets[b]["labels"], targets[b]["boxes"], self.weights
            )
            for i, b in pairs
        ]
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        out = [[(empty, empty)] * len(targets) for _ in range(logits.shape[0])]
        for (layer, b), (rows, cols) in zip(pairs, assign_many(costs)):
            out[layer][b] = (rows.to(device), cols.to(device))
        return out
