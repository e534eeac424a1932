"""The overhead measurement of ``tools/benchmark.py``: one config's row (median step times,
``overhead = c / (a + b)``, peak memory per phase, optionally FLOPs and the auto window's cost)
and the markdown table of the rows."""

from __future__ import annotations

import os
import platform
import statistics
from typing import TYPE_CHECKING

from .batches import timed_batches
from .memory import peak_mib, reset_peak
from .models import build, in_auto_window
from .runs import REPO
from .timing import AUTO, PHASES, TEACHER_FP32, Phases, count_flops, write_profile

if TYPE_CHECKING:
    import argparse


def bench_config(path: str, args: argparse.Namespace) -> dict:
    """The benchmark's row of the config at ``path``: the median seconds of each phase over
    ``args.iters`` rounds after ``args.warmup``, one of each phase per round, and the ratios
    and peak memory of ``tools/benchmark.py``'s table (``args``: its options)."""
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


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's with the torch threads."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    threads = torch.get_num_threads()
    return f"{platform.processor() or platform.machine()} CPU, {threads} torch thread(s)"


def table(rows: list[dict]) -> str:
    """Markdown table of :func:`bench_config`'s rows, with the optional columns any row has."""
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
