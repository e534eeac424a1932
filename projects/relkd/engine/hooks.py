"""Trainer hooks relkd adds to detectron2's."""

from __future__ import annotations

import logging

import torch
from detectron2.engine import HookBase

from .optim import total_grad_norm

logger = logging.getLogger("relkd")


class ClipGradNorm(HookBase):
    """Clip the global gradient norm after ``backward`` and before ``optimizer.step``.

    ``train.clip_grad_norm`` in a LazyConfig turns it on (FGFI's official code clips at 10;
    from-scratch training on ``digits_det`` needs it at higher learning rates). The
    pre-clipping norm is logged as ``grad_norm``.

    Args:
        max_norm: the largest allowed L2 norm over all trainable parameters.
    """

    def __init__(self, max_norm: float):
        if not max_norm > 0:
            raise ValueError(f"ClipGradNorm: max_norm must be > 0, got {max_norm}")
        self.max_norm = float(max_norm)

    def after_backward(self):
        params = [p for p in self.trainer.model.parameters() if p.grad is not None]
        scaler = getattr(self.trainer, "grad_scaler", None)
        if scaler is not None and scaler.is_enabled():
            scaler.unscale_(self.trainer.optimizer)  # clip the true gradients under AMP
        norm = torch.nn.utils.clip_grad_norm_(params, self.max_norm)
        self.trainer.storage.put_scalar("grad_norm", float(norm), smoothing_hint=True)


class NonFiniteSkip(HookBase):
    """Leave out the optimizer step of an iteration whose gradients are not finite, which is
    how a relkd meta-architecture with ``nonfinite="skip"`` asks for a skip (on any rank: DDP's
    all-reduce carries the NaN to every rank).

    Without AMP the gradients are dropped (``grad = None``), so the optimizer leaves parameters,
    moments and weight decay untouched; under AMP the ``GradScaler`` skips the step itself (and
    lowers its scale, as after any overflow). A guarded optimizer
    (:mod:`relkd.engine.optim`) does the same under any loop; this hook is for relkd's loop
    with a plain one. It checks the gradients only when the model's policy is ``"skip"``.
    """

    def before_train(self):
        self._model = getattr(self.trainer.model, "module", self.trainer.model)
        if hasattr(self._model, "skip_hook"):
            self._model.skip_hook = True  # the model's start check: skips are honoured

    def after_backward(self):
        if getattr(self._model, "nonfinite", None) != "skip":
            return
        if hasattr(self.trainer.optimizer, "relkd_clip_grad_norm"):
            return  # a guarded optimizer checks the same norm and skips (and counts) itself
        scaler = getattr(self.trainer, "grad_scaler", None)
        if scaler is not None and scaler.is_enabled():
            return
        params = [p for p in self.trainer.model.parameters() if p.grad is not None]
        if not params or torch.isfinite(total_grad_norm(params)):  # one read from the device
            return
        if not self._model.skip_update:  # the NaN came from another rank
            logger.warning(
                "Iteration %d: non-finite gradients (a skip on another rank); no update",
                self.trainer.iter,
            )
        for p in params:
            p.grad = None


def distill_times(storage, window: int | None = None) -> dict[str, float]:
    """``{"teacher": ms, <distiller name>: ms}``: medians of the ``relkd/*/ms`` scalars over the
    last ``window`` iterations (all when ``None``)."""
    out = {}
    for key, hist in storage.histories().items():
        if key.startswith("relkd/") and key.endswith("/ms"):
            n = window or len(hist.values())
            out[key[len("relkd/") : -len("/ms")]] = hist.median(n)
    return out


class DistillTimesPrinter(HookBase):
    """Every ``period`` iterations, one console line with the teacher's and each distiller's
    time (medians over the period), next to detectron2's line of losses."""

    def __init__(self, period: int):
        self.period = int(period)

    def after_step(self):
        done = self.trainer.iter + 1
        if self.period <= 0 or done % self.period and done != self.trainer.max_iter:
            return
        times = distill_times(self.trainer.storage, self.period)
        if times:
            parts = ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(times.items()))
            logger.info(f"iter {self.trainer.iter}: distillation forward times {parts}")
