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
import itertools
import json
import os
import platform
import statistics
import sys
import time

from toolkit.bench_models import build, calibrate_frozen_norms, in_auto_window, optimizer_for
from toolkit.memory import peak_mib, reset_peak

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "projects"))

PHASES = ("student", "teacher", "distill", "teacher_full")
TEACHER_FP32 = "teacher_fp32"  # timed as well with --teacher-dtype bf16 or fp16
AUTO = "auto_window"  # timed as well with --auto-window


def parse_args(argv=None):
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
        help="precision of the teacher's forward (relkd.Teacher's dtype; default: the " "config's)",
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


# --- data -----------------------------------------------------------------------------------
def synthetic_batches(n: int, batch: int, h: int, w: int, num_classes: int, seed: int = 0):
    """``n`` batches of random uint8-range images with 5 random boxes each."""
    import torch
    from detectron2.structures import Boxes, Instances

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
            items.append({"image": image, "instances": inst, "height": h, "width": w})
        out.append(items)
    return out


def config_batches(cfg, n: int, batch: int):
    from detectron2.config import instantiate

    from relkd.data import register_digits_det

    register_digits_det()
    if batch:
        cfg.dataloader.train.total_batch_size = batch
    cfg.dataloader.train.num_workers = 0
    return list(itertools.islice(instantiate(cfg.dataloader.train), n))


def num_classes(model) -> int:
    """RetinaNet and DABDETR hold it; GeneralizedRCNN's ROI heads do."""
    return model.num_classes if hasattr(model, "num_classes") else model.roi_heads.num_classes


# --- timing ---------------------------------------------------------------------------------
class Phases:
    """The four callables timed, each one complete step on one batch."""

    def __init__(self, cfg, model, plain, device, amp: bool, auto_model=None):
        import torch
        from detectron2.utils.events import EventStorage

        self.model, self.plain, self.device = model, plain, device
        self.opt = {"student": optimizer_for(cfg, plain), "distill": optimizer_for(cfg, model)}
        self.auto_model = auto_model
        if auto_model is not None:
            self.opt[AUTO] = optimizer_for(cfg, auto_model)
        self.amp_dtype = (
            (torch.float16 if device.type == "cuda" else torch.bfloat16) if amp else None
        )
        # one scaler per model: an overflow in one must not change the other's scale
        fp16 = amp and device.type == "cuda"
        self.scaler = {k: torch.amp.GradScaler("cuda") for k in self.opt} if fp16 else None
        self.storage = EventStorage(10**6)  # past every warm-up: distillers fully on
        self._teacher_fp32 = None

    def teacher_fp32(self):
        """A copy of the teacher as it runs by default, fp32 and NCHW (its weights converted
        once, so that no round converts the half-precision teacher's layout back and forth)."""
        import copy

        if self._teacher_fp32 is None:
            self._teacher_fp32 = copy.deepcopy(self.model.teacher)
            self._teacher_fp32.dtype, self._teacher_fp32.channels_last = "fp32", None
        return self._teacher_fp32

    def _autocast(self):
        import torch

        return torch.autocast(
            self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
        )

    def _train_step(self, phase: str, model, batch) -> None:
        opt = self.opt[phase]
        with self._autocast():
            loss = sum(model(batch).values())
        opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            scaler = self.scaler[phase]
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    def run(self, phase: str, batch) -> None:
        import torch

        with self.storage:
            if phase == "student":
                self._train_step(phase, self.plain, batch)
            elif phase == "distill":
                self._train_step(phase, self.model, batch)
            elif phase == AUTO:
                self._train_step(phase, self.auto_model, batch)
            elif phase == "teacher":
                with self._autocast():
                    self.model.teacher_forward(batch)
            elif phase == TEACHER_FP32:
                teacher, self.model.teacher = self.model.teacher, self.teacher_fp32()
                try:
                    with self._autocast():
                        self.model.teacher_forward(batch)
                finally:
                    self.model.teacher = teacher
            else:  # the teacher's full inference, heads and post-processing included
                with self._autocast(), torch.no_grad():
                    self.model.teacher.frozen_model()([{"image": x["image"]} for x in batch])

    def timed(self, phase: str, batch) -> float:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        self.run(phase, batch)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - t0


def write_profile(phases: Phases, batches: list, args, config: str) -> str:
    """``torch.profiler`` table of ``args.profile`` distillation steps, by total time; each
    distiller and the teacher appear as ``relkd/<name>``."""
    import torch

    with torch.profiler.profile() as prof:
        for i in range(args.profile):
            phases.run("distill", batches[i % len(batches)])
    text = prof.key_averages().table(sort_by="cpu_time_total", row_limit=40)
    os.makedirs(args.output, exist_ok=True)
    name = os.path.splitext(os.path.basename(config))[0]
    out = os.path.join(args.output, f"profile_{name}.txt")
    with open(out, "w") as f:
        f.write(text)
    print(f"[benchmark] profile: {out}", flush=True)
    return out


def timed_batches(cfg, args, model, plain, n: int) -> list:
    """The batches a measurement cycles through (``args.synthetic`` images of that size, or
    the config's data; ``args.batch`` images each), with the frozen norms of the random-weight
    models set to those batches' statistics (``calibrate_frozen_norms``), the student copy too.
    """
    from relkd.export.student import student_state

    if args.synthetic:
        h, w = args.synthetic
        batches = synthetic_batches(min(n, 4), args.batch or 2, h, w, num_classes(plain))
    else:
        batches = config_batches(cfg, min(n, 8), args.batch)
    if calibrate_frozen_norms(model, batches[0]):
        plain.load_state_dict(student_state(model.state_dict()))
    calibrate_frozen_norms(model.teacher.model, batches[0])
    return batches


def bench_config(path: str, args) -> dict:
    import torch
    from detectron2.config import LazyConfig

    from relkd.engine.overrides import apply_overrides

    cfg = apply_overrides(LazyConfig.load(path), args.opts)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model, plain = build(cfg, args, device)
    n = args.warmup + args.iters
    batches = timed_batches(cfg, args, model, plain, n)
    auto_model = in_auto_window(cfg, model, device) if args.auto_window else None
    phases = Phases(cfg, model, plain, device, args.amp, auto_model)
    half = args.teacher_dtype in ("bf16", "fp16")
    timed = PHASES + ((TEACHER_FP32,) if half else ()) + ((AUTO,) if args.auto_window else ())
    times = {p: [] for p in timed}
    for i in range(n):
        batch = batches[i % len(batches)]
        for p in timed:
            t = phases.timed(p, batch)
            if i >= args.warmup:
                times[p].append(t)
    memory = {}
    for p in PHASES:  # separate pass: a peak belongs to one phase only
        reset_peak(device)
        phases.run(p, batches[0])
        memory[p] = peak_mib(device)
    flops = count_flops(phases, batches[0]) if args.flops else None
    if args.profile:
        write_profile(phases, batches, args, path)
    med = {p: statistics.median(v) for p, v in times.items()}
    row = {
        "config": os.path.relpath(os.path.abspath(path), REPO),
        "distillers": [type(d).__name__ for d in model.distillers],
        "teacher_dtype": args.teacher_dtype,
        "batch": len(batches[0]),
        "image_size": list(batches[0][0]["image"].shape[-2:]),
        "median_s": med,
        "overhead": med["distill"] / (med["student"] + med["teacher"]),
        "teacher_fast_path_speedup": med["teacher_full"] / med["teacher"],
        "peak_mib": memory,
        "rounds": args.iters,
    }
    if flops is not None:
        row["gflops"] = {p: f / 1e9 for p, f in flops.items()}
        row["flop_overhead"] = flops["distill"] / (flops["student"] + flops["teacher"])
    if AUTO in med:
        row["auto_window_cost"] = med[AUTO] / med["distill"]
    if TEACHER_FP32 in med:
        row["overhead_vs_fp32_teacher"] = med["distill"] / (med["student"] + med[TEACHER_FP32])
    return row


def count_flops(phases: Phases, batch) -> dict[str, int]:
    """``{phase: FLOPs}`` of one step of (a), (b) and (c) on ``batch``, the matrix products and
    convolutions that ``torch.utils.flop_counter`` knows (forward, backward). The full teacher
    (b0) enters no ratio and is not run again."""
    from torch.utils.flop_counter import FlopCounterMode

    flops = {}
    for p in ("student", "teacher", "distill"):
        with FlopCounterMode(display=False) as counter:
            phases.run(p, batch)
        flops[p] = counter.get_total_flops()
    return flops


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    threads = torch.get_num_threads()
    return f"{platform.processor() or platform.machine()} CPU, {threads} torch thread(s)"


def table(rows: list[dict]) -> str:
    half = any(TEACHER_FP32 in r["median_s"] for r in rows)
    auto = any(AUTO in r["median_s"] for r in rows)
    flops = any("gflops" in r for r in rows)
    extra = " (b32) teacher fp32 s | c/(a+b32) |" if half else ""
    extra += " (w) auto window s | w/c |" if auto else ""
    extra += " GFLOP a / b / c | FLOPs c/(a+b) |" if flops else ""
    head = (
        "| config | distillers | (a) student s | (b) teacher s | (c) distill s | overhead c/(a+b) "
        f"| (b0) teacher full s | peak MiB a / b / c |{extra}\n"
        "|---|---|---:|---:|---:|---:|---:|---|" + "---:|---:|" * (half + auto + flops) + "\n"
    )
    lines = []
    for r in rows:
        m, mem = r["median_s"], r["peak_mib"]
        line = (
            f"| {os.path.basename(r['config'])} | {' + '.join(r['distillers'])} "
            f"| {m['student']:.3f} | {m['teacher']:.3f} | {m['distill']:.3f} "
            f"| **{r['overhead']:.3f}** | {m['teacher_full']:.3f} "
            f"| {mem['student']:.0f} / {mem['teacher']:.0f} / {mem['distill']:.0f} |"
        )
        if half:
            line += f" {m[TEACHER_FP32]:.3f} | **{r['overhead_vs_fp32_teacher']:.3f}** |"
        if AUTO in m:
            line += f" {m[AUTO]:.3f} | **{r['auto_window_cost']:.3f}** |"
        if "gflops" in r:
            g = r["gflops"]
            line += f" {g['student']:.1f} / {g['teacher']:.1f} / {g['distill']:.1f} "
            line += f"| **{r['flop_overhead']:.3f}** |"
        lines.append(line)
    return head + "\n".join(lines)


def main(argv=None) -> list[dict]:
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
