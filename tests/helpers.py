"""Small helpers shared by the tests."""

import torch


def set_identity(conv: torch.nn.Conv2d) -> None:
    """Make a ``C -> C`` conv (any odd kernel) the identity map: centre tap = I, bias = 0."""
    k = conv.kernel_size[0] // 2
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :, k, k].copy_(torch.eye(conv.weight.shape[0]))
        if conv.bias is not None:
            conv.bias.zero_()


def make_inputs(student, teacher, boxes, size=64, iteration=0, **extra):
    """``DistillInputs`` for ``len(boxes)`` square images of ``size`` px.

    Args:
        student, teacher: ``{name: (B, C, H, W)}`` features.
        boxes: per image, a ``(K, 4)`` xyxy tensor (``K`` may be 0).
        **extra: further ``DistillInputs`` fields (``anchors``, ``anchor_levels``, ...).
    """
    from detectron2.structures import Boxes, Instances

    from relkd.distillers import DistillInputs

    gts = []
    for b in boxes:
        inst = Instances((size, size))
        inst.gt_boxes = Boxes(b)
        inst.gt_classes = torch.zeros(len(b), dtype=torch.long)
        gts.append(inst)
    return DistillInputs(
        student_features=student,
        teacher_features=teacher,
        gt_instances=gts,
        iteration=iteration,
        **extra,
    )
