#!/usr/bin/env python
"""Quality table on ``digits_det``: teacher, baseline student and each distiller, over seeds.

For each detector: the ResNet-50 teacher is trained once (or its cached checkpoint reused,
the demo's included), then for every seed the ResNet-18 baseline student and the student
distilled with each method, all at the same schedule, through ``train_net.py``. Each run ends
with COCOEvaluator on ``digits_det_val``. The script writes, under ``--output-root``:
``quality.json`` (every run's summary), ``quality.md`` (AP as mean, standard deviation and
per-seed values, AP50, APs, the gain over the baseline with its 95% confidence interval by
Welch's t over seeds, whether that interval excludes 0, the fraction of the teacher-student gap
recovered, s/iter) and
``quality_ap.png`` (AP per method). A run whose ``summary.json`` exists for the same schedule,
and whose saved model config equals what its config builds now, is reused, so an interrupted
invocation continues where it stopped and a changed config trains again (an ``auto`` row
names its target ratio, so a changed class default trains it again too).

The default schedule, ``cpu``, finishes within 2 hours on a 2-core CPU with ``--jobs 2`` and
the default three seeds (RetinaNet and Faster R-CNN; 84 min measured); ``full`` is the digits
configs' own schedules and adds DAB-DETR; ``--scale`` multiplies either (a longer run on a GPU).

    python tools/quality.py                                   # the CPU table, within 2 hours
    python tools/quality.py --detectors retinanet --methods fgfi drkd --seeds 0
    python tools/quality.py --schedule full --scale 4 --device cuda   # 4x the configs' schedules
    python tools/quality.py --schedule full --student-scale 2 --output-root output/q2  # students 2x
    python tools/quality.py --loss-weight config auto code     # each method's weights three ways

``--loss-weight`` adds a row per weighting of each method against the same baseline: the
configs' hand weights, ``loss_weight="auto"`` and the official code's weights (rows
``<method>@auto``, ``<method>@code``; their runs under ``<output-root>/<detector>/<row>``).
``--methods fgfi_frcnn_teacher`` adds the RetinaNet FGFI recipe distilled from the Faster R-CNN
teacher (its config's schedule, row ``teacher_faster_rcnn``) beside the RetinaNet-teacher one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import cache, partial

from toolkit.quality_table import (  # noqa: F401 (welch_ci, label: tests)
    CROSS_TEACHER,
    aggregate,
    is_teacher,
    label,
    plot,
    row_method,
    table,
    teacher_key,
    welch_ci,
)
from toolkit.quality_weights import (
    row_keys,
    weight_overrides,
    weighting,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "projects"))

DETECTORS = ("retinanet", "faster_rcnn", "dab_detr")
CNN_METHODS = ("feature_mse", "fgfi", "drkd", "hgd", "drkd_hgd")
METHODS = (*CNN_METHODS, "drkd_released", "fgfi_frcnn_teacher", "kd_detr")
# which methods apply to which detector; others are skipped for it ("drkd_released": DRKD as
# the official single-stage file runs it, RetinaNet only; "fgfi_frcnn_teacher": the RetinaNet
# FGFI recipe with the Faster R-CNN teacher of that family's own config schedule)
APPLIES = {
    "retinanet": (*CNN_METHODS, "drkd_released", "fgfi_frcnn_teacher"),
    "faster_rcnn": CNN_METHODS,
    "dab_detr": ("kd_detr",),
}
# (teacher, student) iterations, by schedule and detector.
# "full": the digits configs' own schedules (4.8 h from nothing on the 2-core CPU, 2 seeds);
# DAB-DETR's: 7,000 teacher iterations (21.4 AP; 28 min at two threads) and 3,000 student ones.
# "cpu": the default table within 2 hours on the 2-core CPU with --jobs 2: 83.9 min measured
# with the default three seeds from nothing (BENCHMARKS.md, part of it beside the test suite).
# The RetinaNet teacher keeps the configs' 2,500 iterations (the cheaper teacher, and the
# demo's); Faster R-CNN's detector learns fastest and takes the larger cut. DAB-DETR has no CPU
# schedule: on a CPU its full one alone takes about 3.4 core-hours for a 1.7-AP baseline.
SCHEDULES = {
    "full": {"retinanet": (2500, 1000), "faster_rcnn": (2500, 1000), "dab_detr": (7000, 3000)},
    "cpu": {"retinanet": (2500, 600), "faster_rcnn": (1000, 400)},
}
# rough relative cost of a step (one thread, `tools/benchmark.py`), by detector and by method,
# to start the longest runs first
DETECTOR_COST = {"faster_rcnn": 2.0}
METHOD_COST = {"drkd": 1.6, "drkd_hgd": 1.7, "kd_detr": 2.0, "baseline": 0.7, "teacher": 1.4}
# the published methods; FeatureMSE and DRKD + HGD-R run when named with --methods
DEFAULT_METHODS = ("fgfi", "drkd", "hgd", "kd_detr")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--schedule",
        choices=sorted(SCHEDULES),
        default="cpu",
        help="cpu: the CPU table within 2 hours (RetinaNet, Faster R-CNN); full: the configs' "
        "schedules, all three detectors",
    )
    p.add_argument("--detectors", nargs="+", choices=DETECTORS, default=None)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(DEFAULT_METHODS))
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
        "--cores",
        nargs="+",
        type=int,
        default=None,
        help="with --converged: the cores to pin runs to, one run per core (default: all)",
    )
    args = p.parse_args(argv)
    folder = "converged" if args.converged else "quality"
    args.output_root = args.output_root or os.path.join(REPO, "output", folder)
    if args.converged:
        return args
    if args.jobs is None:
        args.jobs = 2 if args.device == "cpu" and (os.cpu_count() or 1) >= 2 else 1
    if not args.scale > 0 or not args.student_scale > 0:
        p.error(f"--scale and --student-scale must be > 0, got {args.scale}, {args.student_scale}")
    known = SCHEDULES[args.schedule]
    if args.detectors is None:
        args.detectors = list(known)
    missing = [d for d in args.detectors if d not in known]
    if missing:
        p.error(f"--schedule {args.schedule} has no schedule for {missing}; use --schedule full")
    return args


def iterations(det: str, args) -> tuple[int, int]:
    """(teacher, student) iterations of ``det`` under ``args.schedule`` and ``args.scale``, the
    student's also times ``args.student_scale``."""
    teacher, student = SCHEDULES[args.schedule][det]
    return round(teacher * args.scale), round(student * args.scale * args.student_scale)


@cache
def config_iters(config: str) -> int:
    """``train.max_iter`` of a config file (read once per process)."""
    from toolkit.runs import load_config

    return int(load_config(config).train.max_iter)


def teacher_name(det: str) -> str:
    """The digits teacher config of ``det``: the DAB-DETR teacher is the one on the RetinaNet
    teacher's frozen FPN (the one above 20 AP, BENCHMARKS.md)."""
    return "dab_detr_R50_teacher_fpn" if det == "dab_detr" else f"{det}_R50_teacher"


def teacher_dir(det: str, args, iters: int) -> str:
    """Where the teacher of ``iters`` iterations is trained; the configs' own teacher (the
    demo's, for RetinaNet) is shared with ``output/digits``."""
    name = teacher_name(det)
    if iters == config_iters(f"configs/digits/{name}.py") and args.device == "cpu":
        return os.path.join(REPO, "output", "digits", name)
    return os.path.join(args.output_root, det, f"teacher_it{iters}")


def teacher_run(det: str, args, iters: int, extra: tuple = (), threads=None) -> dict:
    """Train (or reuse) the teacher into :func:`teacher_dir`; return its summary."""
    from toolkit.runs import is_cached, load_summary, train_run

    out = teacher_dir(det, args, iters)
    config = f"configs/digits/{teacher_name(det)}.py"
    overrides = [f"train.max_iter={iters}", f"train.device={args.device}", *extra]
    if not args.retrain and is_cached(out, iters, config, overrides, "quality"):
        print(f"[quality] reusing the teacher {out}", flush=True)
        return load_summary(out)
    return train_run(config, out, overrides, "quality", threads)


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
    from toolkit.runs import is_cached, load_summary, train_run, warmup_overrides

    key, method = method, row_method(method)[0]  # a row's key: "fgfi" or "fgfi@auto"
    name = f"{det}_R18_student" if method == "baseline" else f"{det}_R18_{method}"
    config = f"configs/digits/{name}.py"
    out = os.path.join(args.output_root, det, key, f"seed{seed}")
    overrides = [f"train.max_iter={iters}", f"train.seed={seed}", f"train.device={args.device}"]
    if method != "baseline":
        overrides.append(f"model.teacher.weights={ckpt}")
    overrides += warmup_overrides(config, iters) + weight_overrides(det, key, config)
    overrides += list(extra)
    if not args.retrain and is_cached(out, iters, config, overrides, "quality"):
        print(f"[quality] reusing {out}", flush=True)
        return load_summary(out)
    return train_run(config, out, overrides, "quality", threads)


def cost(det: str, method: str, iters: int) -> float:
    method = row_method(method)[0]
    return iters * DETECTOR_COST.get(det, 1.0) * METHOD_COST.get(method, 1.0)


def dab_detr_inputs(args, keys: set[str]) -> list:
    """What the DAB-DETRs start from: the teacher from the digits RetinaNet teacher (job
    ``retinanet/teacher``; its ResNet + FPN, frozen), the R18 students from the seed-0 Faster
    R-CNN baseline student's ResNet, cut into ``dab_detr/backbones/student.pth`` (job
    ``dab_detr/backbones``). The runs these need are added here unless ``keys`` (the table's
    jobs) has them."""
    from toolkit.jobs import Job

    from relkd.utils.checkpoints import extract_backbone

    r_iters = iterations("retinanet", args)[0]
    s_iters = iterations("faster_rcnn", args)[1]
    r18 = os.path.join(args.output_root, "faster_rcnn", "baseline", "seed0", "model_final.pth")
    runs = {
        "retinanet/teacher": partial(teacher_run, "retinanet", args, r_iters, ()),
        "faster_rcnn/baseline/0": partial(
            student_run, "faster_rcnn", "baseline", 0, "", args, s_iters, ()
        ),
    }

    def cut(threads=None):
        stages = ("stem", "res2", "res3", "res4")
        extract_backbone(r18, backbone_path(args, "student"), stages=stages)

    jobs = [Job(key, fn) for key, fn in runs.items() if key not in keys]
    return [*jobs, Job("dab_detr/backbones", cut, ("faster_rcnn/baseline/0",))]


def retinanet_teacher_ckpt(args) -> str:
    iters = iterations("retinanet", args)[0]
    return os.path.join(teacher_dir("retinanet", args, iters), "model_final.pth")


def backbone_path(args, role: str) -> str:
    return os.path.join(args.output_root, "dab_detr", "backbones", f"{role}.pth")


def cross_teacher_iters(family: str, args) -> int:
    """Iterations of the teacher of another family (:data:`CROSS_TEACHER`): that family's config
    schedule (times ``--scale``), the teacher its digits config names, whatever the table's
    schedule (the CPU table's 1,000-iteration Faster R-CNN teacher is far weaker)."""
    return round(config_iters(f"configs/digits/{teacher_name(family)}.py") * args.scale)


def cross_teacher_ckpt(family: str, args) -> str:
    return os.path.join(
        teacher_dir(family, args, cross_teacher_iters(family, args)), "model_final.pth"
    )


def cross_teacher_job(family: str, args, slot: list, table_dets: set[str]):
    """The job ``<family>/teacher@config`` that trains (or reuses) the teacher of another family
    into ``slot[0]``; it waits for the table's own teacher of that family when that is the
    same run, so that the two never train one directory at once."""
    from toolkit.jobs import Job

    iters = cross_teacher_iters(family, args)
    same = family in table_dets and iterations(family, args)[0] == iters
    run = partial(teacher_run, family, args, iters, ())
    deps = (f"{family}/teacher",) if same else ()
    return Job(
        f"{family}/teacher@config", _into(slot, 0, run), deps, cost(family, "teacher", iters)
    )


def _into(slot: list, i: int, fn):
    """A job function that stores ``fn(threads)``, a run's summary, as ``slot[i]``."""

    def work(threads):
        slot[i] = fn(threads)

    return work


def plan(args) -> tuple[list, dict]:
    """Every job of the table, and ``raw[det][key]``, the list of summaries they fill."""
    from toolkit.jobs import Job

    raw, jobs = {}, []
    for det in args.detectors:
        methods = [m for m in args.methods if m in APPLIES[det]]
        if not methods:
            print(f"[quality] none of {args.methods} applies to {det}; skipped", flush=True)
            continue
        raw[det] = {"teacher": [None]}
        raw[det].update({teacher_key(m): [None] for m in methods if m in CROSS_TEACHER})
        keys = [k for m in methods for k in row_keys(det, m, args.loss_weight)]
        for key in ("baseline", *keys):
            raw[det][key] = [None] * len(args.seeds)
    for det in raw:
        t_iters, s_iters = iterations(det, args)
        t_deps, deps, t_extra, s_extra = (), (), (), ()
        if det == "dab_detr":
            t_deps, deps = ("retinanet/teacher",), ("dab_detr/backbones",)
            t_extra = (f"train.init_checkpoint={retinanet_teacher_ckpt(args)}",)
            s_extra = (f"train.init_checkpoint={backbone_path(args, 'student')}",)
        ckpt = os.path.join(teacher_dir(det, args, t_iters), "model_final.pth")
        teacher = partial(teacher_run, det, args, t_iters, t_extra)
        jobs.append(
            Job(
                f"{det}/teacher",
                _into(raw[det]["teacher"], 0, teacher),
                t_deps,
                cost(det, "teacher", t_iters),
            )
        )
        for method in raw[det]:
            if is_teacher(method):
                if method != "teacher":  # teacher_<family>: the teacher of another family
                    family = method[len("teacher_") :]
                    jobs.append(cross_teacher_job(family, args, raw[det][method], set(raw)))
                continue
            family = CROSS_TEACHER.get(row_method(method)[0])
            t_key = f"{family}/teacher@config" if family else f"{det}/teacher"
            row_ckpt = cross_teacher_ckpt(family, args) if family else ckpt
            for i, seed in enumerate(args.seeds):
                run = partial(student_run, det, method, seed, row_ckpt, args, s_iters, s_extra)
                jobs.append(
                    Job(
                        f"{det}/{method}/{seed}",
                        _into(raw[det][method], i, run),
                        (*deps, t_key) if method != "baseline" else deps,
                        cost(det, method, s_iters),
                    )
                )
    if "dab_detr" in raw:
        jobs += dab_detr_inputs(args, {job.key for job in jobs})
    return jobs, raw


def main(argv=None) -> str:
    args = parse_args(argv)
    from relkd.data import build_digits_det

    print(f"[quality] digits_det at {build_digits_det()}", flush=True)
    if args.converged:
        from toolkit import converged

        os.makedirs(args.output_root, exist_ok=True)
        cores = args.cores or list(range(os.cpu_count() or 1))
        dets = args.detectors or converged.DETECTORS
        text = converged.main(args.output_root, dets, args.extend, cores)
        print("\n" + text, flush=True)
        return text
    os.makedirs(args.output_root, exist_ok=True)
    t0 = time.time()
    from toolkit.jobs import run_jobs

    jobs, raw = plan(args)
    run_jobs(jobs, args.jobs)
    results = {det: {k: aggregate(v) for k, v in rows.items()} for det, rows in raw.items()}
    text = table(results)
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
