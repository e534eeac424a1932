#!/usr/bin/env python
"""Quality table on ``digits_det``: teacher, baseline student and each distiller, over seeds.

For each detector: the ResNet-50 teacher is trained once (or its cached checkpoint reused,
the demo's included), then for every seed the ResNet-18 baseline student and the student
distilled with each method, all at the same schedule, through ``train_net.py``. Each run ends
with COCOEvaluator on ``digits_det_val``. The script writes, under ``--output-root``:
``quality.json`` (every run's summary), ``quality.md`` (AP as mean, standard deviation and
per-seed values, AP50, APs, the gain over the baseline with its 95% confidence interval by
Welch's t over seeds, whether that interval excludes 0, the fraction of the teacher-student gap
recovered, s/iter; below it, every method row's verdict Holm-corrected over all the rows of the
invocation, and each ``loss_weight="auto"`` row against its hand-weighted row:
``relkd.bench.family``) and ``quality_ap.png`` (AP per method). A run whose ``summary.json``
exists for the same schedule, and whose saved model config equals what its config builds now, is
reused, so an interrupted invocation continues where it stopped and a changed config trains
again (an ``auto`` row names its target ratio, so a changed class default trains it again
too).

The default schedule, ``cpu``, finishes within 2 hours on a 2-core CPU with ``--jobs 2`` and
the default three seeds (RetinaNet and Faster R-CNN; 84 min measured); ``full`` is the digits
configs' own schedules and adds DAB-DETR; ``--scale`` multiplies either (a longer run on a GPU).

    python tools/quality.py                                   # the CPU table, within 2 hours
    python tools/quality.py --detectors retinanet --methods fgfi drkd --seeds 0
    python tools/quality.py --schedule full --scale 4 --device cuda   # 4x the configs' schedules
    python tools/quality.py --schedule full --student-scale 2 --output-root output/q2  # students 2x
    python tools/quality.py --loss-weight config auto code     # each method's weights three ways
    python tools/quality.py --detectors mask_rcnn --methods fgfi  # box and mask AP, Mask R-CNN

``--loss-weight`` adds a row per weighting of each method against the same baseline: the
configs' hand weights, ``loss_weight="auto"`` and the official code's weights (rows
``<method>@auto``, ``<method>@code``; their runs under ``<output-root>/<detector>/<row>``).
``--methods fgfi_frcnn_teacher`` adds the RetinaNet FGFI recipe distilled from the Faster R-CNN
teacher (its config's schedule, row ``teacher_faster_rcnn``) beside the RetinaNet-teacher one.
The methods, their configs and code weights are the table of ``relkd.bench.methods``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from relkd.bench.family import comparisons, family_table
from relkd.bench.jobs import run_jobs
from relkd.bench.methods import DETECTORS, METHODS
from relkd.bench.plan import DEFAULT_DETECTORS, SCHEDULES, iterations, plan
from relkd.bench.runs import REPO
from relkd.bench.tables import aggregate, mask_table, plot, table
from relkd.bench.weights import weighting

# the published methods; FeatureMSE and DRKD + HGD-R run when named with --methods
DEFAULT_METHODS = [name for name, m in METHODS.items() if m.default]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--schedule",
        choices=sorted(SCHEDULES),
        default="cpu",
        help="cpu: the CPU table within 2 hours (RetinaNet, Faster R-CNN); full: the configs' "
        "schedules, with DAB-DETR; Mask R-CNN (both schedules) when named in --detectors",
    )
    p.add_argument("--detectors", nargs="+", choices=list(DETECTORS), default=None)
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(DEFAULT_METHODS))
    p.add_argument(
        "--loss-weight",
        nargs="+",
        type=weighting,
        default=["config"],
        help="each method's weights: config (the digits configs' hand weights), auto "
        "(loss_weight='auto'), code (the papers' code weights, where they differ from the "
        "config's), auto:R (loss_weight='auto' with target_ratio R); several give a row each, "
        "against the same baseline",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--scale", type=float, default=1.0, help="multiply every schedule (e.g. 4 on a GPU)"
    )
    p.add_argument(
        "--student-scale",
        type=float,
        default=1.0,
        help="multiply the students' schedules only, on top of --scale (the teachers stay): "
        "whether a gain grows with the student's training; use another --output-root, as the "
        "runs keep their paths",
    )
    p.add_argument("--device", default="cpu", help="train.device of every run")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="runs at once, each with cpu_count // jobs threads (default: 2 with --device cpu "
        "on 2 or more cores, else 1)",
    )
    p.add_argument(
        "--output-root", default=None, help="default output/quality (--converged: output/converged)"
    )
    p.add_argument("--retrain", action="store_true", help="ignore cached runs and teachers")
    p.add_argument(
        "--converged",
        action="store_true",
        help="the comparison at convergence on configs/converged (BENCHMARKS.md, 'Distillation "
        "at convergence'): teachers, curve, rule; default --output-root output/converged",
    )
    p.add_argument(
        "--extend",
        action="store_true",
        help="with --converged: add the rule's extension seeds to undecided comparisons",
    )
    p.add_argument(
        "--length",
        type=int,
        default=None,
        help="with --converged: the students' schedule L in iterations (default: the configs' "
        "train.max_iter, 8000); the curve runs at L/4 and L/2",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="with --converged: train nothing, report the runs finished so far (the baseline's "
        "plateau fixes L before any method trains)",
    )
    p.add_argument(
        "--cores",
        nargs="+",
        type=int,
        default=None,
        help="with --converged: the cores to pin runs to, one run per core (default: all)",
    )
    args = p.parse_args(argv)
    folder = "converged" if args.converged else "quality"
    args.output_root = args.output_root or os.path.join(REPO, "output", folder)
    if args.length is not None and (not args.converged or args.length < 4):
        p.error(f"--length needs --converged and at least 4 iterations, got {args.length}")
    if args.report_only and not args.converged:
        p.error("--report-only reports the comparison at convergence: add --converged")
    if args.converged:
        return args
    if args.jobs is None:
        args.jobs = 2 if args.device == "cpu" and (os.cpu_count() or 1) >= 2 else 1
    if not args.scale > 0 or not args.student_scale > 0:
        p.error(f"--scale and --student-scale must be > 0, got {args.scale}, {args.student_scale}")
    known = SCHEDULES[args.schedule]
    if args.detectors is None:
        args.detectors = list(DEFAULT_DETECTORS[args.schedule])
    missing = [d for d in args.detectors if d not in known]
    if missing:
        p.error(f"--schedule {args.schedule} has no schedule for {missing}; use --schedule full")
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    from relkd.data import build_digits_det

    print(f"[quality] digits_det at {build_digits_det()}", flush=True)
    if args.converged:
        from relkd.bench import converged

        os.makedirs(args.output_root, exist_ok=True)
        cores = args.cores or list(range(os.cpu_count() or 1))
        dets = args.detectors or converged.DETECTORS
        text = converged.main(
            args.output_root, dets, args.extend, cores, args.length, not args.report_only
        )
        print("\n" + text, flush=True)
        return text
    os.makedirs(args.output_root, exist_ok=True)
    t0 = time.time()
    jobs, raw = plan(args)
    run_jobs(jobs, args.jobs)
    results = {det: {k: aggregate(v) for k, v in rows.items()} for det, rows in raw.items()}
    text = table(results)
    masks = mask_table(results)
    if masks:
        text += "\n\nMask AP (COCOEvaluator segm):\n\n" + masks
    if comparisons(results):
        text += "\n\n" + family_table(results)
    schedules = "; ".join(
        "{}: teacher {}, students {} iterations".format(det, *iterations(det, args)) for det in raw
    )
    cmd = "python tools/quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = (
        f"Command: `{cmd.strip()}`; {schedules} (one teacher run), seeds "
        f"{args.seeds}, device {args.device}, {args.jobs} job(s) at once; wall time "
        f"{(time.time() - t0) / 60:.1f} min.\n\n"
    )
    with open(os.path.join(args.output_root, "quality.json"), "w") as f:
        json.dump({"args": vars(args), "runs": raw, "aggregate": results}, f, indent=1)
    with open(os.path.join(args.output_root, "quality.md"), "w") as f:
        f.write(header + text + "\n")
    plot(results, os.path.join(args.output_root, "quality_ap.png"))
    print("\n" + header + text, flush=True)
    return text


if __name__ == "__main__":
    main()
