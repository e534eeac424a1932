"""KD-DETR's distillation-point loss (Wang et al., CVPR 2024; ``KDCriterion`` in the official
code): KL at temperature T on the class logits plus L1 and GIoU on the boxes, each weighted by
the teacher's foreground confidence."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import box_convert, generalized_box_iou_loss


def foreground_weight(teacher_logits: torch.Tensor) -> torch.Tensor:
    """Foreground rebalance weight ``w = max_k sigmoid(p^T_k)``: ``(B, N, K) -> (B, N)``,
    detached, in ``(0, 1)``."""
    return teacher_logits.detach().float().sigmoid().amax(dim=-1)


def point_distill_loss(
    student_logits: torch.Tensor,
    student_boxes: torch.Tensor,
    teacher_logits: torch.Tensor,
    teacher_boxes: torch.Tensor,
    temperature: float = 10.0,
) -> dict[str, torch.Tensor]:
    """Distillation loss of one point set, summed over the student's decoder layers.

    Args:
        student_logits: ``(L, B, N, K)`` class logits of every student decoder layer.
        student_boxes: ``(L, B, N, 4)`` cxcywh boxes in ``[0, 1]``.
        teacher_logits: ``(B, N, K)`` the teacher's logits for the same points (its last layer).
        teacher_boxes: ``(B, N, 4)``.
        temperature: T of the softmax (10 in the code).

    Returns:
        ``{"kl", "l1", "giou"}`` scalars (fp32), unweighted:

        - ``kl = sum_l sum_{b,i} w * T^2 / K * KL(softmax(p^T / T) || softmax(p^S_l / T))``
          (summed over points, not normalised, as in the code);
        - ``l1 = sum_l sum w * mean_4 |b^S_l - b^T| / sum w``;
        - ``giou = sum_l sum w * (1 - GIoU(b^S_l, b^T)) / sum w``;

        with ``w = max_k sigmoid(p^T)`` detached.
    """
    if student_logits.dim() != 4 or student_logits.shape[1:] != teacher_logits.shape:
        raise ValueError(
            "point_distill_loss: student logits must be (L, B, N, K) matching the teacher's "
            f"(B, N, K); got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    if student_boxes.shape[1:] != teacher_boxes.shape or teacher_boxes.shape[-1] != 4:
        raise ValueError(
            "point_distill_loss: student boxes must be (L, B, N, 4) matching the teacher's "
            f"(B, N, 4); got {tuple(student_boxes.shape)} and {tuple(teacher_boxes.shape)}"
        )
    t = float(temperature)
    k = teacher_logits.shape[-1]
    w = foreground_weight(teacher_logits)  # (B, N)
    w_sum = w.sum()
    log_q = F.log_softmax(teacher_logits.detach().float() / t, dim=-1)
    log_r = F.log_softmax(student_logits.float() / t, dim=-1)  # (L, B, N, K)
    kl = (log_q.exp() * (log_q - log_r)).sum(-1) * (t * t / k)  # (L, B, N)
    kl = (kl * w).sum()

    s_boxes = student_boxes.float()
    t_boxes = teacher_boxes.detach().float().expand_as(s_boxes)
    l1 = (s_boxes - t_boxes).abs().mean(-1)
    giou = generalized_box_iou_loss(
        box_convert(s_boxes.reshape(-1, 4), "cxcywh", "xyxy"),
        box_convert(t_boxes.reshape(-1, 4), "cxcywh", "xyxy"),
        reduction="none",
    ).view(l1.shape)
    return {"kl": kl, "l1": (l1 * w).sum() / w_sum, "giou": (giou * w).sum() / w_sum}
