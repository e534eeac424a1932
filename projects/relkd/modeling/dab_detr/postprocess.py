"""DAB-DETR's post-processing: the decoder's last logits and boxes as detectron2 ``Instances``
in input-image coordinates."""

from __future__ import annotations

import torch
from detectron2.modeling import detector_postprocess
from detectron2.structures import Boxes, Instances
from torchvision.ops import box_convert


def detections(
    logits, boxes, image_sizes, batched_inputs, num_classes: int, num_detections: int
) -> list[dict]:
    """Top-scoring (query, class) pairs per image as detectron2 ``Instances``.

    Args:
        logits: ``(B, N, K)``; boxes: ``(B, N, 4)`` sigmoided cxcywh.
        image_sizes: the unpadded ``(h, w)`` per image; ``batched_inputs``' ``"height"`` and
            ``"width"``, where given, are the sizes the boxes are rescaled to.
        num_classes: K; num_detections: detections kept per image.
    """
    results = []
    k = min(num_detections, logits.shape[1] * logits.shape[2])
    for i, (h, w) in enumerate(image_sizes):
        scores, idx = logits[i].float().sigmoid().flatten().topk(k)
        query, cls = idx // num_classes, idx % num_classes
        scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=boxes.device)
        xyxy = box_convert(boxes[i, query].float(), "cxcywh", "xyxy") * scale
        inst = Instances((h, w))
        inst.pred_boxes = Boxes(xyxy)
        inst.scores = scores
        inst.pred_classes = cls
        x = batched_inputs[i]
        out_h, out_w = x.get("height", h), x.get("width", w)
        results.append({"instances": detector_postprocess(inst, out_h, out_w)})
    return results
