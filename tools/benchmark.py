#!/usr/bin/env python
"""Distillation overhead: (a) the student's plain training step, (b) the teacher's work as relkd
runs it, (c) the full distillation step, all in one process, and ``overhead = c / (a + b)``.

    python tools/benchmark.py configs/digits/retinanet_R18_fgfi.py configs/digits/*_drkd.py
    python tools/benchmark.py configs/coco/faster_rcnn_R50_fgfi.py --synthetic 800 1333 \\
        --batch 2 --random-teacher --device cuda [--amp]

Each step is the whole training step: forward, loss sum, backward and optimizer step (the
config's optimizer, at a thousandth of its rate so that random weights do not diverge). The
three are timed round-robin, one of each per round, after ``--warmup`` rounds, and the median
over ``--iters`` rounds is reported (CUDA steps are synchronised). Also reported: (b0), the
teacher's full inference forward (heads and post-processing, what a naive teacher branch would
run), against (b), relkd's fast path. Peak memory is measured in a separate pass per phase:
process peak RSS on CPU (reset through ``/proc/self/clear_refs``), ``max_memory_allocated`` on
CUDA. ``--profile N`` writes a ``torch.profiler`` table of N distillation steps.
``--auto-window`` also times (w), a distillation step inside the calibration window of
``loss_weight="auto"`` (every distiller's weight set to ``"auto"``; the window's extra backward
passes in every step), and reports ``w / c``, the window's cost per step.

``--synthetic H W`` replaces the config's data with random images of that size and 5 random
boxes each; ``--random-teacher`` builds the teacher from its config without loading its
weights (timing only). ``--teacher-dtype bf16|fp16`` runs the teacher's forward in half
precision (``relkd.Teacher(dtype=...)``, channels-last by default) and also times (b32), the
teacher's work as it runs by default (a copy in fp32 and NCHW), for the overhead against the
fp32 teacher, ``c / (a + b32)``: below 1 when the half-precision teacher saves more than
distillation adds. ``--flops`` also counts, in one more pass per
phase, the floating-point operations of the matrix products and convolutions of (a), (b) and
(c) (``torch.utils.flop_counter``; RoIAlign, normalisation and elementwise work are not
counted) and reports their ratio ``c / (a + b)``: the overhead a device bound by those
products cannot go below. Results go to ``<output>/benchmark.json`` and ``benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from relkd.bench.overhead import bench_config, device_name, table
from relkd.bench.runs import REPO


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("configs", nargs="+", help="distilled configs")
    p.add_argument("--iters", type=int, default=20, help="timed rounds (median)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="autocast (bf16 on CPU, fp16 on CUDA)")
    p.add_argument("--synthetic", nargs=2, type=int, metavar=("H", "W"), default=None)
    p.add_argument("--batch", type=int, default=0, help="batch size (default: the config's)")
    p.add_argument("--random-teacher", action="store_true")
    p.add_argument(
        "--teacher-dtype",
        choices=("fp32", "bf16", "fp16"),
        default=None,
        help="precision of the teacher's forward (relkd.Teacher's dtype; default: the config's)",
    )
    p.add_argument("--output", default=os.path.join(REPO, "output", "benchmark"))
    p.add_argument(
        "--profile", type=int, default=0, help="also profile N distillation steps (torch.profiler)"
    )
    p.add_argument(
        "--auto-window",
        action="store_true",
        help="also time a step of loss_weight='auto''s calibration window (w) and report w / c",
    )
    p.add_argument(
        "--flops",
        action="store_true",
        help="also count the matmul and convolution FLOPs of a, b and c and report their c/(a+b)",
    )
    p.add_argument("--opts", nargs="*", default=[], help="config overrides key=value")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    rows = []
    for path in args.configs:
        print(f"[benchmark] {path}", flush=True)
        rows.append(bench_config(path, args))
        print(table(rows[-1:]), flush=True)
    os.makedirs(args.output, exist_ok=True)
    cmd = "python tools/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {
        "command": cmd,
        "device": device_name(args.device),
        "amp": args.amp,
        "teacher_dtype": args.teacher_dtype,
    }
    with open(os.path.join(args.output, "benchmark.json"), "w") as f:
        json.dump({**meta, "rows": rows}, f, indent=1)
    text = (
        f"Command: `{cmd}`; device: {meta['device']}; AMP: {args.amp}; teacher dtype: "
        f"{args.teacher_dtype}; median of "
        f"{args.iters} rounds after {args.warmup} warm-up rounds.\n\n" + table(rows) + "\n"
    )
    with open(os.path.join(args.output, "benchmark.md"), "w") as f:
        f.write(text)
    print("\n" + text, flush=True)
    return rows


if __name__ == "__main__":
    main()
