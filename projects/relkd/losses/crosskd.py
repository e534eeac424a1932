"""CrossKD (Wang et al., CVPR 2024): the distances between the student's cross-head predictions
(the student's head features run through the teacher's later head layers) and the teacher's own
predictions.

Pure tensor functions; see docs/methods.md, "CrossKD". The teacher's side is detached in each.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# added to the union and to the enclosing box's area before dividing (as fvcore's giou_loss)
GIOU_EPS = 1e-7


def _check_pair(fn: str, student: torch.Tensor, teacher: torch.Tensor, width: int | None):
    if student.shape != teacher.shape:
        raise ValueError(
            f"{fn}: shapes differ, student {tuple(student.shape)} vs teacher "
            f"{tuple(teacher.shape)}"
        )
    if student.dim() != 2 or (width is not None and student.shape[1] != width):
        want = f"(N, {width})" if width is not None else "(N, K)"
        raise ValueError(f"{fn}: expected {want}, got shape {tuple(student.shape)}")


def quality_focal_kd(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, beta: float = 2.0
) -> torch.Tensor:
    """Quality Focal Loss with the teacher's sigmoid scores as soft targets.

    Per logit, with ``p = sigmoid(s)`` and ``q = sigmoid(t)``:
    ``BCE(p, q) * |p - q|^beta = -(q log p + (1 - q) log(1 - p)) * |p - q|^beta``; summed over
    the ``K`` classes of a location and averaged over the ``N`` locations. The modulating
    factor is part of the loss (its gradient is not stopped), as in GFL's QFL.

    Args:
        student_logits: ``(N, K)`` the cross-head class logits.
        teacher_logits: ``(N, K)`` the teacher's own class logits (detached here).
        beta: the exponent of the modulating factor (GFL's 2; 0 gives the plain soft BCE).

    Returns:
        A scalar in float32 (float64 for float64 inputs); a 0 still connected to
        ``student_logits`` when ``N = 0``.
    """
    _check_pair("quality_focal_kd", student_logits, teacher_logits, None)
    dtype = torch.promote_types(student_logits.dtype, torch.float32)
    s = student_logits.to(dtype)
    q = teacher_logits.detach().to(dtype).sigmoid()
    bce = F.binary_cross_entropy_with_logits(s, q, reduction="none")  # (N, K)
    per_location = (bce * (s.sigmoid() - q).abs().pow(beta)).sum(dim=1)  # (N,)
    return per_location.sum() / max(per_location.numel(), 1)


def giou(boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = GIOU_EPS) -> torch.Tensor:
    """The generalised IoU of each pair of boxes.

    ``GIoU = IoU - (|C| - |A u B|) / |C|``, ``C`` the smallest box enclosing both. The
    intersection's width and height are clamped at 0, so no host-side indexing (and no device
    sync) happens; the values and gradients are those of fvcore's and torchvision's
    ``giou_loss`` for valid boxes.

    Args:
        boxes1, boxes2: ``(N, 4)`` in ``(x1, y1, x2, y2)``, with ``x1 <= x2`` and ``y1 <= y2``.
        eps: added to the union and to the enclosing area before dividing.

    Returns:
        ``(N,)``, in ``[-1, 1]``.
    """
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    u1, v1, u2, v2 = boxes2.unbind(dim=-1)
    inter_w = (torch.min(x2, u2) - torch.max(x1, u1)).clamp(min=0)
    inter_h = (torch.min(y2, v2) - torch.max(y1, v1)).clamp(min=0)
    inter = inter_w * inter_h
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    iou = inter / (union + eps)
    enclosing = (torch.max(x2, u2) - torch.min(x1, u1)) * (torch.max(y2, v2) - torch.min(y1, v1))
    return iou - (enclosing - union) / (enclosing + eps)


def giou_kd(student_boxes: torch.Tensor, teacher_boxes: torch.Tensor) -> torch.Tensor:
    """The mean GIoU loss ``1 - GIoU`` between the boxes decoded from the cross-head deltas and
    those decoded from the teacher's own.

    Args:
        student_boxes: ``(N, 4)`` ``(x1, y1, x2, y2)``, decoded from the cross-head deltas.
        teacher_boxes: ``(N, 4)`` decoded from the teacher's deltas (detached here).

    Returns:
        A scalar in ``[0, 2]``, float32 (float64 for float64 inputs); a 0 still connected to
        ``student_boxes`` when ``N = 0``.
    """
    _check_pair("giou_kd", student_boxes, teacher_boxes, 4)
    dtype = torch.promote_types(student_boxes.dtype, torch.float32)
    loss = 1 - giou(student_boxes.to(dtype), teacher_boxes.detach().to(dtype))
    return loss.sum() / max(loss.numel(), 1)


def softmax_kd(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Hinton's distillation loss over the ``K + 1`` classes of a softmax classifier (Fast
    R-CNN's): ``T^2 * KL(softmax(t / T) || softmax(s / T))`` per row, averaged over the rows.

    Args:
        student_logits: ``(N, K + 1)`` the cross-head class logits.
        teacher_logits: ``(N, K + 1)`` the teacher's own (detached here).
        temperature: ``T > 0``; the ``T^2`` factor keeps the gradient's scale as ``T`` changes.

    Returns:
        A scalar >= 0 in float32 (float64 for float64 inputs); a 0 still connected to
        ``student_logits`` when ``N = 0``.
    """
    _check_pair("softmax_kd", student_logits, teacher_logits, None)
    if not temperature > 0:
        raise ValueError(f"softmax_kd: temperature must be > 0, got {temperature}")
    dtype = torch.promote_types(student_logits.dtype, torch.float32)
    log_s = F.log_softmax(student_logits.to(dtype) / temperature, dim=1)
    log_t = F.log_softmax(teacher_logits.detach().to(dtype) / temperature, dim=1)
    kl = F.kl_div(log_s, log_t, reduction="none", log_target=True).sum(dim=1)  # (N,)
    return kl.sum() * temperature**2 / max(kl.numel(), 1)
