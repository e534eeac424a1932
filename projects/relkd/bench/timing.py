"""The phases ``tools/benchmark.py`` times, each one complete step on one batch: (a) the plain
student's training step, (b) the teacher's work as relkd runs it, (c) the distillation step,
(b0) the teacher's full inference, and with the options (b32) the teacher in fp32 and (w) a step
in ``loss_weight="auto"``'s window; their FLOPs and a ``torch.profiler`` table."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from .models import optimizer_for

if TYPE_CHECKING:
    import argparse

    import torch
    from torch import nn

# (a), (b), (c) and (b0), timed in every run
PHASES = ("student", "teacher", "distill", "teacher_full")
TEACHER_FP32 = "teacher_fp32"  # timed as well with --teacher-dtype bf16 or fp16
AUTO = "auto_window"  # timed as well with --auto-window


class Phases:
    """The callables timed, each one complete step on one batch (a list of training inputs).

    Args:
        cfg: the config (its optimizer, see :func:`.models.optimizer_for`).
        model: the distilled model, in training mode.
        plain: the plain student with the same weights, in training mode.
        device: where both run.
        amp: autocast (bf16 on a CPU, fp16 with a gradient scaler on CUDA).
        auto_model: the model of phase (w) (:func:`.models.in_auto_window`), if timed.
    """

    def __init__(
        self,
        cfg,
        model: nn.Module,
        plain: nn.Module,
        device: torch.device,
        amp: bool,
        auto_model: nn.Module | None = None,
    ):
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

    def teacher_fp32(self) -> nn.Module:
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

    def run(self, phase: str, batch: list[dict]) -> None:
        """One step of ``phase`` (:data:`PHASES`, :data:`TEACHER_FP32` or :data:`AUTO`)."""
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
                    self.model.teacher.prepare()([{"image": x["image"]} for x in batch])

    def timed(self, phase: str, batch: list[dict]) -> float:
        """The seconds of one step of ``phase`` (the device synchronised before and after)."""
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        self.run(phase, batch)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - t0


def write_profile(
    phases: Phases, batches: list[list[dict]], args: argparse.Namespace, config: str
) -> str:
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


def count_flops(phases: Phases, batch: list[dict]) -> dict[str, int]:
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
