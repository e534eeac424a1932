"""The runs of ``tools/quality.py``'s table: the schedules, where each teacher and student
trains (or is reused from), and the jobs that train them in dependency order.

``args`` below is ``tools/quality.py``'s parsed command line: ``schedule``, ``scale``,
``student_scale``, ``detectors``, ``methods``, ``loss_weight``, ``seeds``, ``device``,
``output_root`` and ``retrain``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from functools import cache, partial

from . import runs
from .jobs import Job
from .methods import CNN, METHODS, applies, student_config
from .tables import is_teacher, row_method, teacher_family, teacher_key
from .weights import row_keys, weight_overrides

# (teacher, student) iterations, by schedule and detector.
# "full": the digits configs' own schedules (4.8 h from nothing on the 2-core CPU, 2 seeds);
# DAB-DETR's: 7,000 teacher iterations (21.4 AP; 28 min at two threads) and 3,000 student ones.
# "cpu": the default table within 2 hours on the 2-core CPU with --jobs 2: 83.9 min measured
# with the default three seeds from nothing (BENCHMARKS.md, part of it beside the test suite).
# The RetinaNet teacher keeps the configs' 2,500 iterations (the cheaper teacher, and the
# demo's); Faster R-CNN's detector learns fastest and takes the larger cut. DAB-DETR has no CPU
# schedule: on a CPU its full one alone takes about 3.4 core-hours for a 1.7-AP baseline.
# Mask R-CNN (digits_det_segm) has Faster R-CNN's schedules but runs only when named in
# --detectors: a step costs about three Faster R-CNN ones (the mask head on every foreground ROI)
SCHEDULES = {
    "full": {
        "retinanet": (2500, 1000),
        "faster_rcnn": (2500, 1000),
        "dab_detr": (7000, 3000),
        "mask_rcnn": (2500, 1000),
    },
    "cpu": {"retinanet": (2500, 600), "faster_rcnn": (1000, 400), "mask_rcnn": (1000, 400)},
}
# the detectors of a schedule's table when --detectors is not given
DEFAULT_DETECTORS = {"full": ("retinanet", "faster_rcnn", "dab_detr"), "cpu": CNN}
# rough relative cost of a step (one thread, `tools/benchmark.py`), by detector and by run (a
# method's is its Method.cost), to start the longest runs first
DETECTOR_COST = {"faster_rcnn": 2.0, "mask_rcnn": 6.0}
ROLE_COST = {"baseline": 0.7, "teacher": 1.4}


def iterations(det: str, args: argparse.Namespace) -> tuple[int, int]:
    """(teacher, student) iterations of ``det`` under ``args.schedule`` and ``args.scale``, the
    student's also times ``args.student_scale``."""
    teacher, student = SCHEDULES[args.schedule][det]
    return round(teacher * args.scale), round(student * args.scale * args.student_scale)


@cache
def config_iters(config: str) -> int:
    """``train.max_iter`` of a config file (read once per process)."""
    return int(runs.load_config(config).train.max_iter)


def teacher_name(det: str) -> str:
    """The digits teacher config of ``det``: the DAB-DETR teacher is the one on the RetinaNet
    teacher's frozen FPN (the one above 20 AP, BENCHMARKS.md)."""
    return "dab_detr_R50_teacher_fpn" if det == "dab_detr" else f"{det}_R50_teacher"


def teacher_dir(det: str, args: argparse.Namespace, iters: int) -> str:
    """Where the teacher of ``iters`` iterations is trained; the configs' own teacher (the
    demo's, for RetinaNet) is shared with ``output/digits``."""
    name = teacher_name(det)
    if iters == config_iters(f"configs/digits/{name}.py") and args.device == "cpu":
        return os.path.join(runs.REPO, "output", "digits", name)
    return os.path.join(args.output_root, det, f"teacher_it{iters}")


def teacher_run(
    det: str,
    args: argparse.Namespace,
    iters: int,
    extra: tuple = (),
    threads: int | None = None,
) -> dict:
    """Train (or reuse) the teacher into :func:`teacher_dir`; return its summary."""
    out = teacher_dir(det, args, iters)
    config = f"configs/digits/{teacher_name(det)}.py"
    overrides = [f"train.max_iter={iters}", f"train.device={args.device}", *extra]
    if not args.retrain and runs.is_cached(out, iters, config, overrides, "quality"):
        print(f"[quality] reusing the teacher {out}", flush=True)
        return runs.load_summary(out)
    return runs.train_run(config, out, overrides, "quality", threads)


def student_run(
    det: str,
    method: str,
    seed: int,
    ckpt: str,
    args: argparse.Namespace,
    iters: int,
    extra: tuple = (),
    threads: int | None = None,
) -> dict:
    """Train (or reuse) the student of the row ``method`` (a row's key, ``"fgfi@auto"``) on
    ``det`` with ``seed``, distilled from the teacher checkpoint ``ckpt``; return its summary."""
    key, method = method, row_method(method)[0]  # a row's key: "fgfi" or "fgfi@auto"
    config = student_config(det, method)
    out = os.path.join(args.output_root, det, key, f"seed{seed}")
    overrides = [f"train.max_iter={iters}", f"train.seed={seed}", f"train.device={args.device}"]
    if method != "baseline":
        overrides.append(f"model.teacher.weights={ckpt}")
    overrides += runs.warmup_overrides(config, iters) + weight_overrides(det, key, config)
    overrides += list(extra)
    if not args.retrain and runs.is_cached(out, iters, config, overrides, "quality"):
        print(f"[quality] reusing {out}", flush=True)
        return runs.load_summary(out)
    return runs.train_run(config, out, overrides, "quality", threads)


def cost(det: str, method: str, iters: int) -> float:
    """The relative cost of a run of the row ``method`` (or ``"teacher"``) on ``det``."""
    method = row_method(method)[0]
    step = ROLE_COST[method] if method in ROLE_COST else METHODS[method].cost
    return iters * DETECTOR_COST.get(det, 1.0) * step


def dab_detr_inputs(args: argparse.Namespace, keys: set[str]) -> list[Job]:
    """What the DAB-DETRs start from: the teacher from the digits RetinaNet teacher (job
    ``retinanet/teacher``; its ResNet + FPN, frozen), the R18 students from the seed-0 Faster
    R-CNN baseline student's ResNet, cut into ``dab_detr/backbones/student.pth`` (job
    ``dab_detr/backbones``). The runs these need are added here unless ``keys`` (the table's
    jobs) has them."""
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


def retinanet_teacher_ckpt(args: argparse.Namespace) -> str:
    iters = iterations("retinanet", args)[0]
    return os.path.join(teacher_dir("retinanet", args, iters), "model_final.pth")


def backbone_path(args: argparse.Namespace, role: str) -> str:
    return os.path.join(args.output_root, "dab_detr", "backbones", f"{role}.pth")


def cross_teacher_iters(family: str, args: argparse.Namespace) -> int:
    """Iterations of the teacher of another family (a method's ``teacher``): that family's config
    schedule (times ``--scale``), the teacher its digits config names, whatever the table's
    schedule (the CPU table's 1,000-iteration Faster R-CNN teacher is far weaker)."""
    return round(config_iters(f"configs/digits/{teacher_name(family)}.py") * args.scale)


def cross_teacher_ckpt(family: str, args: argparse.Namespace) -> str:
    return os.path.join(
        teacher_dir(family, args, cross_teacher_iters(family, args)), "model_final.pth"
    )


def cross_teacher_job(
    family: str, args: argparse.Namespace, slot: list, table_dets: set[str]
) -> Job:
    """The job ``<family>/teacher@config`` that trains (or reuses) the teacher of another family
    into ``slot[0]``; it waits for the table's own teacher of that family when that is the
    same run, so that the two never train one directory at once."""
    iters = cross_teacher_iters(family, args)
    same = family in table_dets and iterations(family, args)[0] == iters
    run = partial(teacher_run, family, args, iters, ())
    deps = (f"{family}/teacher",) if same else ()
    return Job(
        f"{family}/teacher@config", _into(slot, 0, run), deps, cost(family, "teacher", iters)
    )


def _into(slot: list, i: int, fn: Callable[[int | None], dict]) -> Callable[[int | None], None]:
    """A job function that stores ``fn(threads)``, a run's summary, as ``slot[i]``."""

    def work(threads):
        slot[i] = fn(threads)

    return work


def plan(args: argparse.Namespace) -> tuple[list[Job], dict]:
    """Every job of the table, and ``raw[det][key]``, the list of summaries they fill."""
    raw, jobs = {}, []
    for det in args.detectors:
        methods = [m for m in args.methods if applies(m, det)]
        if not methods:
            print(f"[quality] none of {args.methods} applies to {det}; skipped", flush=True)
            continue
        raw[det] = {"teacher": [None]}
        raw[det].update({teacher_key(m): [None] for m in methods if METHODS[m].teacher})
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
            family = teacher_family(method)
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
