"""DETR's set loss with DAB-DETR's terms: sigmoid focal classification, L1 and GIoU on the
matched boxes, on every decoder layer."""

from __future__ import annotations

import torch
import torch.distributed as dist
from detectron2.utils import comm
from torch import nn
from torchvision.ops import box_convert, generalized_box_iou_loss, sigmoid_focal_loss

from .matcher import HungarianMatcher


def _num_boxes(targets: list[dict], device) -> float | torch.Tensor:
    """Targets per rank, averaged over ranks (DETR's normaliser), at least 1: a number on one
    rank; a 0-dim tensor under DDP, where the average stays on the device (reading it would make
    the host wait)."""
    n = float(sum(len(t["labels"]) for t in targets))
    if comm.get_world_size() == 1:
        return max(n, 1.0)
    total = torch.tensor(n, device=device)
    dist.all_reduce(total)
    return (total / comm.get_world_size()).clamp(min=1.0)


class SetCriterion(nn.Module):
    """Matched-set losses for a stack of decoder layers.

    Args:
        num_classes: K (sigmoid classes, no background logit).
        matcher: the Hungarian matcher.
        class_weight, bbox_weight, giou_weight: loss weights (DAB-DETR: 1, 5, 2).
        focal_alpha, focal_gamma: focal loss parameters (0.25, 2).
    """

    def __init__(
        self,
        num_classes: int,
        matcher: HungarianMatcher,
        class_weight: float = 1.0,
        bbox_weight: float = 5.0,
        giou_weight: float = 2.0,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.weights = {"class": class_weight, "bbox": bbox_weight, "giou": giou_weight}
        self.alpha, self.gamma = focal_alpha, focal_gamma

    def layer_losses(
        self,
        logits: torch.Tensor,
        boxes: torch.Tensor,
        targets: list[dict],
        num_boxes: float | torch.Tensor,
        indices: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Unweighted losses of one layer: ``logits (B, N, K)``, ``boxes (B, N, 4)``;
        ``indices``: the layer's matching (matched here when not given)."""
        if indices is None:
            indices = self.matcher(logits, boxes, targets)
        b_idx = torch.cat([torch.full_like(p, b) for b, (p, _) in enumerate(indices)])
        p_idx = torch.cat([p for p, _ in indices])
        onehot = torch.zeros_like(logits, dtype=torch.float32)
        labels = torch.cat([t["labels"][g] for t, (_, g) in zip(targets, indices)])
        onehot[b_idx, p_idx, labels] = 1.0
        cls = sigmoid_focal_loss(
            logits.float(), onehot, alpha=self.alpha, gamma=self.gamma, reduction="sum"
        )
        src = boxes[b_idx, p_idx].float()
        tgt = torch.cat([t["boxes"][g] for t, (_, g) in zip(targets, indices)]).float()
        # `boxes.sum() * 0` keeps the terms in the graph when no image has a target
        zero = boxes.sum() * 0.0
        l1 = (src - tgt).abs().sum() + zero
        giou = (
            generalized_box_iou_loss(
                box_convert(src, "cxcywh", "xyxy"),
                box_convert(tgt, "cxcywh", "xyxy"),
                reduction="sum",
            )
            + zero
        )
        return {"class": cls / num_boxes, "bbox": l1 / num_boxes, "giou": giou / num_boxes}

    def forward(
        self, logits: torch.Tensor, boxes: torch.Tensor, targets: list[dict]
    ) -> dict[str, torch.Tensor]:
        """Weighted losses of every layer.

        Args:
            logits: ``(L, B, N, K)``; boxes: ``(L, B, N, 4)`` cxcywh in ``[0, 1]``.
            targets: per image ``{"labels": (M,), "boxes": (M, 4)}``.

        Returns:
            ``loss_class``, ``loss_bbox``, ``loss_giou`` for the last layer and
            ``loss_<term>_<l>`` for each earlier layer ``l``.
        """
        num_boxes = _num_boxes(targets, logits.device)
        matches = self.matcher.match_layers(logits, boxes, targets)  # one wait for the device
        out = {}
        n_layers = logits.shape[0]
        for layer in range(n_layers):
            terms = self.layer_losses(
                logits[layer], boxes[layer], targets, num_boxes, matches[layer]
            )
            suffix = "" if layer == n_layers - 1 else f"_{layer}"
            out.update({f"loss_{k}{suffix}": v * self.weights[k] for k, v in terms.items()})
        return out
