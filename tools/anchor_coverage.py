#!/usr/bin/env python
"""How well a detector config's anchors cover a dataset's GT boxes, under its own matcher.

For each GT box of the dataset: its best IoU with any anchor, whether that reaches the matcher's
foreground threshold, and how many anchors the matcher labels foreground for it (low-quality
matches included when the matcher allows them). Works for RetinaNet-style configs
(``model.anchor_generator`` / ``model.anchor_matcher``) and for Faster R-CNN's RPN
(``model.proposal_generator.*``).

    python tools/anchor_coverage.py configs/digits/retinanet_R50_teacher.py
    python tools/anchor_coverage.py CONFIG --dataset digits_det_val --size 128 128
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog
from detectron2.structures import Boxes, BoxMode, pairwise_iou


def anchor_nodes(model_cfg) -> tuple:
    """``(anchor_generator, anchor_matcher)`` config nodes of a RetinaNet or RPN config."""
    for owner in (model_cfg, model_cfg.get("proposal_generator")):
        if owner is not None and "anchor_generator" in owner and "anchor_matcher" in owner:
            return owner.anchor_generator, owner.anchor_matcher
    raise ValueError(
        "anchor_coverage: the config's model has no anchor_generator/anchor_matcher "
        "(looked at model and model.proposal_generator)"
    )


def foreground_threshold(matcher) -> float:
    """The IoU from which ``matcher`` labels an anchor foreground (label 1)."""
    i = matcher.labels.index(1)
    return float(matcher.thresholds[i])


def image_anchors(generator, strides: list[int], size: tuple[int, int]) -> Boxes:
    """All anchors of an ``size = (H, W)`` image, levels concatenated: ``(N, 4)`` xyxy."""
    h, w = size
    maps = [torch.zeros(1, 1, -(-h // s), -(-w // s)) for s in strides]
    return Boxes.cat(generator(maps))


def coverage(anchors: Boxes, gt_boxes: list[torch.Tensor], matcher) -> dict:
    """Coverage statistics of ``anchors`` over the ``(K_i, 4)`` xyxy GT boxes of each image.

    Returns:
        ``{"num_gt", "covered" (fraction of GT whose best anchor IoU >= the foreground
        threshold), "positives_per_gt" (mean foreground anchors per GT under ``matcher``),
        "best_iou_median", "threshold"}``.
    """
    thr = foreground_threshold(matcher)
    best, positives = [], 0
    for gt in gt_boxes:
        if len(gt) == 0:
            continue
        iou = pairwise_iou(Boxes(gt), anchors)  # (K, N)
        best.append(iou.max(1).values)
        idx, labels = matcher(iou)
        positives += int((labels == 1).sum())
    best = torch.cat(best) if best else torch.zeros(0)
    n = len(best)
    return {
        "num_gt": n,
        "covered": float((best >= thr).float().mean()) if n else 0.0,
        "positives_per_gt": positives / max(n, 1),
        "best_iou_median": float(best.median()) if n else 0.0,
        "threshold": thr,
    }


def dataset_boxes(name: str) -> list[torch.Tensor]:
    """Per image ``(K, 4)`` xyxy float boxes of a registered detectron2 dataset."""
    out = []
    for d in DatasetCatalog.get(name):
        boxes = [
            BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
            for a in d.get("annotations", [])
        ]
        out.append(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    return out


def config_coverage(cfg, dataset: str, size: tuple[int, int]) -> dict:
    """:func:`coverage` of a loaded LazyConfig's anchors over ``dataset`` at image ``size``."""
    gen_cfg, matcher_cfg = anchor_nodes(cfg.model)
    generator, matcher = instantiate(gen_cfg), instantiate(matcher_cfg)
    anchors = image_anchors(generator, list(generator.strides), size)
    return coverage(anchors, dataset_boxes(dataset), matcher)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", nargs="+", help="LazyConfig file(s)")
    p.add_argument("--dataset", default="digits_det_val")
    p.add_argument("--size", type=int, nargs=2, default=(128, 128), metavar=("H", "W"))
    args = p.parse_args(argv)
    for path in args.config:
        cfg = LazyConfig.load(path)  # loading a digits config registers digits_det
        row = config_coverage(cfg, args.dataset, tuple(args.size))
        print(json.dumps({"config": path, **row}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
