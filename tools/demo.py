#!/usr/bin/env python
"""The relkd demo: teacher, baseline student and distilled student on ``digits_det``.

Trains the ResNet-50 teacher (or reuses its cached checkpoint) on all cores, then the ResNet-18
baseline student and the ResNet-18 student distilled with a paper method (FGFI by default) side
by side, one core each, each through ``train_net.py`` so the logs are the ones a user sees (the
students' in ``<run>/stdout.txt``); every run ends with COCOEvaluator on ``digits_det_val``.
Prints one table and writes it to ``<output-root>/demo_<detector>.md``.

    python tools/demo.py                        # RetinaNet + FGFI (BENCHMARKS.md has the time)
    python tools/demo.py --method hgd           # HGD-R, or drkd, feature_mse
    python tools/demo.py --detector faster_rcnn
    python tools/demo.py --quick                # 4 iterations of each, evaluated on the first
                                                # 100 val images: checks the plumbing, in
                                                # output/digits_quick

A quick run writes under its own root, never where a full run reads its cached teacher; a cached
teacher trained for other than its config's iterations is refused with the flag to retrain it.
"""

from __future__ import annotations

import argparse
import os

from relkd.bench import runs
from relkd.bench.jobs import Job, run_jobs
from relkd.bench.methods import METHODS
from relkd.bench.runs import REPO

QUICK_ITERS = 4
QUICK_EVAL = [
    "dataloader.test.dataset.names=digits_det_val_mini",
    "dataloader.evaluator.dataset_name=digits_det_val_mini",
]
# the methods the demo offers, with their labels
DEMO_METHODS = {name: m.label for name, m in METHODS.items() if m.demo}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--detector", choices=("retinanet", "faster_rcnn"), default="retinanet")
    p.add_argument("--method", choices=sorted(DEMO_METHODS), default="fgfi", help="the distiller")
    p.add_argument(
        "--output-root",
        default=None,
        help="default: output/digits, output/digits_quick with --quick (a quick teacher is "
        "untrained: full runs must never reuse it)",
    )
    p.add_argument("--retrain-teacher", action="store_true", help="ignore a cached teacher")
    p.add_argument("--quick", action="store_true", help="4 iterations per run (plumbing check)")
    args = p.parse_args(argv)
    if args.output_root is None:
        args.output_root = os.path.join(REPO, "output", "digits_quick" if args.quick else "digits")
    return args


def cached_teacher(config: str, out: str, quick: bool) -> dict | None:
    """The summary of the teacher cached in ``out``, or ``None`` when there is none.

    Raises ``SystemExit`` when it was trained for other than the iterations this demo would
    train it for (a quick teacher in a full run's folder, or one from a shortened config).
    """
    ckpt = os.path.join(out, "model_final.pth")
    if not (os.path.isfile(ckpt) and os.path.isfile(os.path.join(out, "summary.json"))):
        return None
    summary = runs.load_summary(out)
    want = QUICK_ITERS if quick else int(runs.load_config(config).train.max_iter)
    got = summary.get("iterations")
    if got != want:
        raise SystemExit(
            f"[demo] the cached teacher {ckpt} was trained for {got} iterations, this demo "
            f"trains it for {want} ({config}); pass --retrain-teacher to train it again, or "
            "--output-root for another folder"
        )
    return summary


def train(config: str, out: str, extra: list[str], quick: bool, threads: int | None = None) -> dict:
    if quick:
        # a 4-iteration teacher is untrained by design: no preflight; evaluated on the first 100
        # val images (digits_det_val_mini), a tenth of the evaluation time
        extra = [
            *extra,
            f"train.max_iter={QUICK_ITERS}",
            "train.log_period=1",
            "dataloader.train.num_workers=0",
            "train.teacher_preflight.enabled=False",
            *QUICK_EVAL,
        ]
    return runs.train_run(config, out, extra, tag="demo", threads=threads)


def table(rows: list[tuple[str, str, dict]]) -> str:
    lines = [
        "| model | config | AP | AP50 | APs | s/iter |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, cfg, s in rows:
        bbox = s["results"].get("bbox", {})
        ap, ap50, aps = (f"{bbox[k]:.1f}" if k in bbox else "-" for k in ("AP", "AP50", "APs"))
        sec = "-" if s["sec_per_iter"] is None else f"{s['sec_per_iter']:.3f}"
        lines.append(f"| {label} | {cfg} | {ap} | {ap50} | {aps} | {sec} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    from relkd.data import build_digits_det

    print("[demo] digits_det: building or reusing the embedded dataset ...", flush=True)
    print(f"[demo] digits_det at {build_digits_det()}", flush=True)

    def run(name: str) -> tuple[str, str]:
        return f"configs/digits/{name}.py", os.path.join(args.output_root, name)

    config, out = run(f"{args.detector}_R50_teacher")
    teacher_ckpt = os.path.join(out, "model_final.pth")
    cached = None if args.retrain_teacher else cached_teacher(config, out, args.quick)
    if cached is not None:
        print(f"[demo] reusing the cached teacher {teacher_ckpt}", flush=True)
        rows = [("teacher (cached)", config, cached)]
    else:
        rows = [("teacher", config, train(config, out, [], args.quick))]

    # the two students do not depend on each other: one core each, side by side
    students = [
        ("student (baseline)", f"{args.detector}_R18_student", []),
        (
            f"student + {DEMO_METHODS[args.method]}",
            METHODS[args.method].configs[args.detector],
            [f"model.teacher.weights={teacher_ckpt}"],
        ),
    ]
    done: dict[str, dict] = {}

    def job(label, name, extra):
        def fn(threads):
            cfg, where = run(name)
            print(f"[demo] {label}: training, log in {where}\n", end="", flush=True)
            done[label] = train(cfg, where, extra, args.quick, threads)

        return Job(label, fn)

    run_jobs([job(*s) for s in students], slots=2 if (os.cpu_count() or 1) >= 2 else 1)
    rows += [(label, run(name)[0], done[label]) for label, name, _ in students]
    text = table(rows)
    print("\n" + text, flush=True)
    with open(os.path.join(args.output_root, f"demo_{args.detector}.md"), "w") as f:
        f.write(text + "\n")
    return text


if __name__ == "__main__":
    main()
