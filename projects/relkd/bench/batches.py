"""The batches ``tools/benchmark.py`` times a step on: random images with random boxes
(``--synthetic``) or the config's own training data, with the frozen norms of random-weight
models set to their statistics."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from .models import calibrate_frozen_norms

if TYPE_CHECKING:
    import argparse

    from torch import nn


def synthetic_batches(
    n: int, batch: int, h: int, w: int, num_classes: int, seed: int = 0, masks: bool = False
) -> list[list[dict]]:
    """``n`` batches of ``batch`` random uint8-range images ``(3, h, w)`` (float) with 5 random
    boxes each, as a detector's training inputs; with ``masks``, each box's instance mask is
    the box itself (``gt_masks``, ``(5, h, w)`` bool), for a mask head."""
    import torch
    from detectron2.structures import BitMasks, Boxes, Instances

    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        items = []
        for _ in range(batch):
            image = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8).float()
            xy = torch.rand(5, 2, generator=g) * torch.tensor([w * 0.8, h * 0.8])
            wh = (0.05 + torch.rand(5, 2, generator=g) * 0.2) * torch.tensor([w, h])
            inst = Instances((h, w))
            inst.gt_boxes = Boxes(torch.cat((xy, xy + wh), 1))
            inst.gt_classes = torch.randint(0, num_classes, (5,), generator=g)
            if masks:
                ys, xs = torch.arange(h)[:, None] + 0.5, torch.arange(w)[None, :] + 0.5
                box = inst.gt_boxes.tensor[:, :, None, None]  # (5, 4, 1, 1)
                inside = (xs >= box[:, 0]) & (xs < box[:, 2]) & (ys >= box[:, 1]) & (ys < box[:, 3])
                inst.gt_masks = BitMasks(inside)
            items.append({"image": image, "instances": inst, "height": h, "width": w})
        out.append(items)
    return out


def config_batches(cfg, n: int, batch: int) -> list[list[dict]]:
    """The first ``n`` batches of the config's training loader (``batch`` images each; 0: the
    config's batch size), loaded in this process."""
    from detectron2.config import instantiate

    from relkd.data import register_digits_det

    register_digits_det()
    if batch:
        cfg.dataloader.train.total_batch_size = batch
    cfg.dataloader.train.num_workers = 0
    return list(itertools.islice(instantiate(cfg.dataloader.train), n))


def num_classes(model: nn.Module) -> int:
    """RetinaNet and DABDETR hold it; GeneralizedRCNN's ROI heads do."""
    return model.num_classes if hasattr(model, "num_classes") else model.roi_heads.num_classes


def timed_batches(
    cfg, args: argparse.Namespace, model: nn.Module, plain: nn.Module, n: int
) -> list[list[dict]]:
    """The batches a measurement cycles through (``args.synthetic`` images of that size, or
    the config's data; ``args.batch`` images each), with the frozen norms of the random-weight
    models set to those batches' statistics (``calibrate_frozen_norms``), the student copy too.
    """
    from relkd.export.student import student_state

    if args.synthetic:
        h, w = args.synthetic
        mask_head = getattr(getattr(plain, "roi_heads", None), "mask_on", False)
        batches = synthetic_batches(
            min(n, 4), args.batch or 2, h, w, num_classes(plain), masks=mask_head
        )
    else:
        batches = config_batches(cfg, min(n, 8), args.batch)
    if calibrate_frozen_norms(model, batches[0]):
        plain.load_state_dict(student_state(model.state_dict()))
    calibrate_frozen_norms(model.teacher.model, batches[0])
    return batches
