"""DAB-DETR's training targets: detectron2's ground-truth ``Instances`` as the set loss reads
them."""

from __future__ import annotations

import torch
from detectron2.structures import Instances
from torchvision.ops import box_convert


def detr_targets(gt_instances: list[Instances], image_sizes) -> list[dict]:
    """``{"labels", "boxes"}`` per image, boxes cxcywh normalised by the image size."""
    out = []
    for inst, (h, w) in zip(gt_instances, image_sizes):
        scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=inst.gt_boxes.device)
        boxes = box_convert(inst.gt_boxes.tensor.float(), "xyxy", "cxcywh") / scale
        out.append({"labels": inst.gt_classes, "boxes": boxes})
    return out
