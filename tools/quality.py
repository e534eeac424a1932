#!/usr/bin/env python
"""Quality table on ``digits_det``: teacher, baseline student and each distiller, over seeds.

For each detector: the ResNet-50 teacher is trained once (or its cached checkpoint reused,
the demo's included), then for every seed the ResNet-18 baseline student and the student
distilled with each method, all at the same schedule, through ``train_net.py``. Each run ends
with COCOEvaluator on ``digits_det_val``. The script writes, under ``--output-root``:
``quality.json`` (every run's summary), ``quality.md`` (AP, AP50, APs as mean and range over
seeds, gain over the baseline, fraction of the teacher-student gap recovered, s/iter) and
``quality_ap.png`` (AP per method). A run whose ``summary.json`` exists for the same schedule,
and whose saved model config equals what its config builds now, is reused, so an interrupted
invocation continues where it stopped and a changed config trains again.

    python tools/quality.py                                   # both detectors, seeds 0 and 1
    python tools/quality.py --detectors retinanet --methods fgfi drkd --seeds 0
    python tools/quality.py --scale 4 --device cuda           # a 4x longer schedule on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "projects"))

DETECTORS = ("retinanet", "faster_rcnn", "dab_detr")
CNN_METHODS = ("feature_mse", "fgfi", "drkd", "hgd", "drkd_hgd")
METHODS = (*CNN_METHODS, "kd_detr")
# which methods apply to which detector; others are skipped for it
APPLIES = {"retinanet": CNN_METHODS, "faster_rcnn": CNN_METHODS, "dab_detr": ("kd_detr",)}
LABELS = {
    "teacher": "teacher (R50)",
    "baseline": "baseline student (R18)",
    "feature_mse": "FeatureMSE",
    "fgfi": "FGFI",
    "drkd": "DRKD",
    "hgd": "HGD-R",
    "drkd_hgd": "DRKD + HGD-R",
    "kd_detr": "KD-DETR",
}
# (teacher, student) iterations of the digits configs' schedules; DAB-DETR's are the shortest at
# which its R18 baseline is clearly non-zero on a CPU (1.7 AP; 0.25 at 2,000 / 1,500)
SCHEDULES = {"retinanet": (2500, 1000), "faster_rcnn": (2500, 1000), "dab_detr": (6000, 3000)}
# rough relative cost of a student step (one thread, `tools/benchmark.py`), by detector and by
# method, to start the longest runs first under --jobs
DETECTOR_COST = {"faster_rcnn": 2.0}
METHOD_COST = {"drkd": 1.6, "drkd_hgd": 1.7, "kd_detr": 2.0, "baseline": 0.7}
# the published methods; FeatureMSE and DRKD + HGD-R run when named with --methods
DEFAULT_METHODS = ("fgfi", "drkd", "hgd", "kd_detr")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--detectors", nargs="+", choices=DETECTORS, default=list(DETECTORS))
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(DEFAULT_METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument(
        "--scale", type=float, default=1.0, help="multiply every schedule (e.g. 4 on a GPU)"
    )
    p.add_argument("--device", default="cpu", help="train.device of every run")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="student runs at once, each with cpu_count // jobs threads (2 on the 2-core CPU)",
    )
    p.add_argument("--output-root", default=os.path.join(REPO, "output", "quality"))
    p.add_argument("--retrain", action="store_true", help="ignore cached runs and teachers")
    return p.parse_args(argv)


def bbox(summary: dict) -> dict:
    return summary.get("results", {}).get("bbox", {})


def teacher_run(det: str, args, iters: int, extra: tuple = ()) -> tuple[str, dict]:
    """Train (or reuse) the teacher; return its checkpoint and summary."""
    from relkd.engine.runs import load_summary, train_run

    if iters == SCHEDULES[det][0] and args.device == "cpu":
        out = os.path.join(REPO, "output", "digits", f"{det}_R50_teacher")  # shared with the demo
    else:
        out = os.path.join(args.output_root, det, f"teacher_it{iters}")
    ckpt = os.path.join(out, "model_final.pth")
    config = f"configs/digits/{det}_R50_teacher.py"
    overrides = [f"train.max_iter={iters}", f"train.device={args.device}", *extra]
    if not args.retrain and _cached(out, iters, config, overrides):
        print(f"[quality] reusing the teacher {ckpt}", flush=True)
        return ckpt, load_summary(out)
    return ckpt, train_run(config, out, overrides, "quality")


def _cached(out: str, iters: int, config: str, overrides: list[str]) -> bool:
    """Whether ``out`` holds a finished run of ``iters`` iterations whose model is the one
    ``config`` with ``overrides`` builds now (a changed weight or argument means a rerun)."""
    from relkd.engine.runs import model_difference

    path = os.path.join(out, "summary.json")
    if not (os.path.isfile(path) and os.path.isfile(os.path.join(out, "model_final.pth"))):
        return False
    with open(path) as f:
        if json.load(f).get("iterations") != iters:
            return False
    changed = model_difference(out, config, overrides)
    if changed:
        print(f"[quality] {out}: {changed} differs from {config}; training it again", flush=True)
    return changed is None


def student_run(
    det: str,
    method: str,
    seed: int,
    ckpt: str,
    args,
    iters: int,
    extra: tuple = (),
    threads: int | None = None,
) -> dict:
    from relkd.engine.runs import load_summary, train_run

    name = f"{det}_R18_student" if method == "baseline" else f"{det}_R18_{method}"
    config = f"configs/digits/{name}.py"
    out = os.path.join(args.output_root, det, method, f"seed{seed}")
    overrides = [f"train.max_iter={iters}", f"train.seed={seed}", f"train.device={args.device}"]
    if method != "baseline":
        overrides.append(f"model.teacher.weights={ckpt}")
    overrides += extra
    if not args.retrain and _cached(out, iters, config, overrides):
        print(f"[quality] reusing {out}", flush=True)
        return load_summary(out)
    return train_run(config, out, overrides, "quality", threads)


def run_students(jobs: list[tuple], raw: dict, args) -> None:
    """Run every student job into ``raw[det][method][i]``: one after another, or with
    ``--jobs N`` in N processes of ``cpu_count // N`` torch threads each, longest first."""
    threads = None if args.jobs <= 1 else max(1, (os.cpu_count() or 1) // args.jobs)

    def work(job):
        det, method, i, seed, ckpt, iters, extra = job
        raw[det][method][i] = student_run(det, method, seed, ckpt, args, iters, extra, threads)

    if threads is None:
        for job in jobs:
            work(job)
        return
    from concurrent.futures import ThreadPoolExecutor

    def cost(job):
        det, method, iters = job[0], job[1], job[5]
        return iters * DETECTOR_COST.get(det, 1.0) * METHOD_COST.get(method, 1.0)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(work, sorted(jobs, key=cost, reverse=True)))  # re-raises the first failure


def detr_backbones(args) -> dict[str, str]:
    """The DAB-DETRs' initial ResNets: the digits Faster R-CNN teacher's (R50) and the seed-0
    Faster R-CNN baseline student's (R18), trained first if missing. Returns the
    ``train.init_checkpoint`` override for the teacher and for the students."""
    from relkd.utils.checkpoints import extract_backbone

    t_iters, s_iters = (round(n * args.scale) for n in SCHEDULES["faster_rcnn"])
    r50, _ = teacher_run("faster_rcnn", args, t_iters)
    student_run("faster_rcnn", "baseline", 0, "", args, s_iters)
    r18 = os.path.join(args.output_root, "faster_rcnn", "baseline", "seed0", "model_final.pth")
    out = {}
    for role, src in (("teacher", r50), ("student", r18)):
        dst = os.path.join(args.output_root, "dab_detr", "backbones", f"{role}.pth")
        extract_backbone(src, dst, stages=("stem", "res2", "res3", "res4"))
        out[role] = f"train.init_checkpoint={dst}"
    return out


def aggregate(runs: list[dict]) -> dict:
    """Mean and range (max - min) over seeds of AP, AP50, APs; median s/iter."""
    out = {"n": len(runs)}
    for k in ("AP", "AP50", "APs"):
        vals = [bbox(r)[k] for r in runs if k in bbox(r)]
        out[k] = statistics.mean(vals) if vals else None
        out[k + "_range"] = (max(vals) - min(vals)) if len(vals) > 1 else None
        out[k + "_all"] = vals
    secs = [r["sec_per_iter"] for r in runs if r.get("sec_per_iter") is not None]
    out["sec_per_iter"] = statistics.median(secs) if secs else None
    return out


def _fmt(x, nd=1, signed=False):
    if x is None:
        return "-"
    return f"{x:+.{nd}f}" if signed else f"{x:.{nd}f}"


def beats(agg: dict, base: dict) -> str | None:
    """``yes`` when the mean AP gain over the baseline exceeds the larger of the two AP ranges
    over seeds, ``no`` otherwise; ``None`` with fewer than two seeds on either side."""
    if agg["AP"] is None or base["AP"] is None or agg["n"] < 2 or base["n"] < 2:
        return None
    spread = max(agg["AP_range"], base["AP_range"])
    return "yes" if agg["AP"] - base["AP"] > spread else "no"


def table(results: dict) -> str:
    lines = [
        "| detector | model | runs | AP | AP range | AP50 | APs | gain (AP) | gap recovered "
        "| gain > spread | s/iter |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for det, rows in results.items():
        teacher, base = rows["teacher"]["AP"], rows["baseline"]["AP"]
        for key, agg in rows.items():
            gain = gap = verdict = None
            if key not in ("teacher", "baseline") and agg["AP"] is not None:
                gain = agg["AP"] - base
                if teacher is not None and teacher - base > 0:
                    gap = gain / (teacher - base)
                verdict = beats(agg, rows["baseline"])
            lines.append(
                f"| {det} | {LABELS[key]} | {agg['n']} | {_fmt(agg['AP'])} | "
                f"{_fmt(agg['AP_range'])} | {_fmt(agg['AP50'])} | {_fmt(agg['APs'])} | "
                f"{_fmt(gain, signed=True)} | {'-' if gap is None else f'{gap:.0%}'} | "
                f"{verdict or '-'} | {_fmt(agg['sec_per_iter'], 3)} |"
            )
    return "\n".join(lines)


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (det, rows) in zip(axes[0], results.items()):
        keys = list(rows)
        means = [rows[k]["AP"] or 0.0 for k in keys]
        ax.bar(range(len(keys)), means, color=["#555"] + ["#999"] + ["#3a7"] * (len(keys) - 2))
        for i, k in enumerate(keys):  # every seed as a dot
            ax.plot([i] * len(rows[k]["AP_all"]), rows[k]["AP_all"], "k.", ms=8)
        ax.axhline(rows["baseline"]["AP"] or 0.0, color="#999", ls="--", lw=1)
        ax.set_xticks(range(len(keys)), [LABELS[k] for k in keys], rotation=30, ha="right")
        ax.set_ylabel("COCO box AP, digits_det_val")
        ax.set_title(det)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> str:
    args = parse_args(argv)
    from relkd.data import build_digits_det

    print(f"[quality] digits_det at {build_digits_det()}", flush=True)
    os.makedirs(args.output_root, exist_ok=True)
    t0 = time.time()
    raw, schedules, jobs = {}, [], []
    for det in args.detectors:
        t_iters, s_iters = (round(n * args.scale) for n in SCHEDULES[det])
        schedules.append(f"{det}: teacher {t_iters}, students {s_iters} iterations")
        methods = [m for m in args.methods if m in APPLIES[det]]
        if not methods:
            print(f"[quality] none of {args.methods} applies to {det}; skipped", flush=True)
            continue
        init = detr_backbones(args) if det == "dab_detr" else {}
        t_extra, s_extra = ((init["teacher"],), (init["student"],)) if init else ((), ())
        ckpt, t_summary = teacher_run(det, args, t_iters, t_extra)
        raw[det] = {"teacher": [t_summary]}
        for method in ("baseline", *methods):
            raw[det][method] = [None] * len(args.seeds)
            jobs += [
                (det, method, i, seed, ckpt, s_iters, s_extra) for i, seed in enumerate(args.seeds)
            ]
    run_students(jobs, raw, args)
    results = {det: {k: aggregate(v) for k, v in rows.items()} for det, rows in raw.items()}
    text = table(results)
    cmd = "python tools/quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = (
        f"Command: `{cmd.strip()}`; {'; '.join(schedules)} (one teacher run), seeds "
        f"{args.seeds}, device {args.device}; wall time "
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
