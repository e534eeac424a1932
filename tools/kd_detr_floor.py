#!/usr/bin/env python
"""KD-DETR's overhead floor: what the method itself adds to a training step.

KD-DETR makes the student decode its distillation points (the teacher's anchors and the
general points) on top of its own queries; that extra decoder forward and backward is part of
the method, whatever the implementation. This tool times, in one process and round-robin:
(a) the student's plain step, (b) the teacher's work, (c) the distillation step (as
``tools/benchmark.py``), and (e) the student decoder's forward and backward on the point sets
alone (the encoder output held fixed but still receiving its gradient), once with one pass per
set and once with the sets in one pass (``DABDETR.decode_sets``). It prints ``c / (a + b)``
and the floor ``(a + b + e) / (a + b)``: no implementation of the method goes below the floor.

    python tools/kd_detr_floor.py configs/digits/dab_detr_R18_kd_detr.py --iters 20 --warmup 3
    python tools/kd_detr_floor.py configs/coco/dab_detr_R50_kd_detr.py --synthetic 800 1333 \
        --batch 2 --iters 20 --warmup 1

Random weights (the teacher's too), with frozen norms set to the batches' statistics, and
``--synthetic`` / ``--batch`` as in ``tools/benchmark.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from relkd.bench.batches import timed_batches
from relkd.bench.models import build
from relkd.bench.timing import Phases


def extra_decode(model, distiller, batch, one_pass: bool) -> float:
    """Seconds of the student decoder's forward and backward on ``distiller``'s point sets."""
    import torch

    from relkd.distillers.base import DetrPoints

    images = model.preprocess_image(batch)
    with torch.no_grad():
        enc = model.encode(images.tensor, images.image_sizes)
    # the encoder output as a leaf: its gradient is computed (the real step needs it), the
    # encoder and backbone behind it are not part of the extra work
    enc = dataclasses.replace(enc, memory=enc.memory.detach().requires_grad_())
    # only the teacher's anchors are read from it: no decoder is called through it
    points = DetrPoints(student=None, teacher=None, teacher_anchors=model.teacher.detr_anchors())
    anchors = [a for _, a in distiller.point_anchors(points)]
    start = time.perf_counter()
    if one_pass:
        outs = model.decode_sets(enc, anchors)
    else:
        outs = [model.decode(enc, a) for a in anchors]
    sum(logits.sum() + boxes.sum() for logits, boxes in outs).backward()
    return time.perf_counter() - start


def main(argv=None) -> dict:
    import torch
    from detectron2.config import LazyConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("config", help="a DAB-DETR config with a KDDETR distiller")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--synthetic", nargs=2, type=int, metavar=("H", "W"), default=None)
    p.add_argument("--batch", type=int, default=None, help="images per batch")
    args = p.parse_args(argv)
    cfg = LazyConfig.load(args.config)
    build_args = argparse.Namespace(
        random_teacher=True, teacher_dtype=None, amp=False, device="cpu", batch=args.batch
    )
    torch.manual_seed(0)
    model, plain = build(cfg, build_args, torch.device("cpu"))
    kd = [d for d in model.distillers if d.requirements().detr_points]
    if not kd:
        raise SystemExit(f"kd_detr_floor: {args.config} has no KD-DETR distiller")
    batches = timed_batches(cfg, args, model, plain, 4)
    phases = Phases(cfg, model, plain, torch.device("cpu"), False)
    times = {k: [] for k in ("student", "teacher", "distill", "points", "points_one_pass")}
    for i in range(args.warmup + args.iters):
        batch = batches[i % len(batches)]
        for k in times:
            if k.startswith("points"):
                t = extra_decode(model, kd[0], batch, k == "points_one_pass")
            else:
                t = phases.timed(k, batch)
            if i >= args.warmup:
                times[k].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    ab = med["student"] + med["teacher"]
    result = {
        "median_s": med,
        "overhead": med["distill"] / ab,
        "floor": (ab + med["points"]) / ab,
        "floor_one_pass": (ab + med["points_one_pass"]) / ab,
        "rounds": args.iters,
    }
    print({k: round(v, 4) for k, v in med.items()})
    print(
        f"c/(a+b) {result['overhead']:.3f}; floor (a+b+e)/(a+b) {result['floor']:.3f}, "
        f"with the sets in one pass {result['floor_one_pass']:.3f}"
    )
    return result


if __name__ == "__main__":
    main()
