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
    python tools/demo.py --quick                # a few iterations of each: checks the plumbing
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "projects"))

METHODS = {"fgfi": "FGFI", "hgd": "HGD-R", "drkd": "DRKD", "feature_mse": "FeatureMSE"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--detector", choices=("retinanet", "faster_rcnn"), default="retinanet")
    p.add_argument("--method", choices=sorted(METHODS), default="fgfi", help="the distiller")
    p.add_argument("--output-root", default=os.path.join(REPO, "output", "digits"))
    p.add_argument("--retrain-teacher", action="store_true", help="ignore a cached teacher")
    p.add_argument("--quick", action="store_true", help="4 iterations per run (plumbing check)")
    return p.parse_args(argv)


def train(config: str, out: str, extra: list[str], quick: bool, threads=None) -> dict:
    from relkd.engine.runs import train_run

    if quick:
        # a 4-iteration teacher is untrained by design: no preflight
        extra = [
            *extra,
            "train.max_iter=4",
            "train.log_period=1",
            "dataloader.train.num_workers=0",
            "train.teacher_preflight.enabled=False",
        ]
    return train_run(config, out, extra, tag="demo", threads=threads)


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


def main(argv=None) -> str:
    args = parse_args(argv)
    from relkd.data import build_digits_det
    from relkd.engine import runs

    print("[demo] digits_det: building or reusing the embedded dataset ...", flush=True)
    print(f"[demo] digits_det at {build_digits_det()}", flush=True)
    from relkd.engine.jobs import Job, run_jobs

    def run(name: str) -> tuple[str, str]:
        return f"configs/digits/{name}.py", os.path.join(args.output_root, name)

    config, out = run(f"{args.detector}_R50_teacher")
    teacher_ckpt = os.path.join(out, "model_final.pth")
    cached = os.path.isfile(teacher_ckpt) and os.path.isfile(os.path.join(out, "summary.json"))
    if cached and not args.retrain_teacher:
        print(f"[demo] reusing the cached teacher {teacher_ckpt}", flush=True)
        rows = [("teacher (cached)", config, runs.load_summary(out))]
    else:
        rows = [("teacher", config, train(config, out, [], args.quick))]

    # the two students do not depend on each other: one core each, side by side
    students = [
        ("student (baseline)", f"{args.detector}_R18_student", []),
        (
            f"student + {METHODS[args.method]}",
            f"{args.detector}_R18_{args.method}",
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
