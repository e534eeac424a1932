#!/usr/bin/env python
"""The relkd demo: teacher, baseline student and distilled student on ``digits_det``.

Trains the ResNet-50 teacher (or reuses its cached checkpoint), the ResNet-18 baseline student
and the ResNet-18 student distilled with FeatureMSE, each through ``train_net.py`` so the logs
are the ones a user sees; every run ends with COCOEvaluator on ``digits_det_val``. Prints one
table and writes it to ``<output-root>/demo_<detector>.md``.

    python tools/demo.py                        # RetinaNet, about 26 minutes on 2 CPU cores
    python tools/demo.py --detector faster_rcnn
    python tools/demo.py --quick                # a few iterations of each: checks the plumbing
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "projects"))

RUNS = (
    ("teacher", "{det}_R50_teacher"),
    ("student (baseline)", "{det}_R18_student"),
    ("student + FeatureMSE", "{det}_R18_feature_mse"),
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--detector", choices=("retinanet", "faster_rcnn"), default="retinanet")
    p.add_argument("--output-root", default=os.path.join(REPO, "output", "digits"))
    p.add_argument("--retrain-teacher", action="store_true", help="ignore a cached teacher")
    p.add_argument("--quick", action="store_true", help="4 iterations per run (plumbing check)")
    return p.parse_args(argv)


def train(config: str, out: str, extra: list[str], quick: bool) -> dict:
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
    return train_run(config, out, extra, tag="demo")


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
    rows = []
    teacher_ckpt = None
    for label, name in RUNS:
        name = name.format(det=args.detector)
        config = f"configs/digits/{name}.py"
        out = os.path.join(args.output_root, name)
        extra = [f"model.teacher.weights={teacher_ckpt}"] if "feature_mse" in name else []
        if label == "teacher":
            teacher_ckpt = os.path.join(out, "model_final.pth")
            cached = os.path.isfile(teacher_ckpt) and os.path.isfile(
                os.path.join(out, "summary.json")
            )
            if cached and not args.retrain_teacher:
                print(f"[demo] reusing the cached teacher {teacher_ckpt}", flush=True)
                rows.append((label + " (cached)", config, runs.load_summary(out)))
                continue
        rows.append((label, config, train(config, out, extra, args.quick)))
    text = table(rows)
    print("\n" + text, flush=True)
    with open(os.path.join(args.output_root, f"demo_{args.detector}.md"), "w") as f:
        f.write(text + "\n")
    return text


if __name__ == "__main__":
    main()
