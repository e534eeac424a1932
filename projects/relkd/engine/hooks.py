"""Trainer hooks relkd adds to detectron2's."""

from __future__ import annotations

import logging

import torch
from detectron2.engine import HookBase

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
    """Turn an iteration the model flagged (``skip_update``, set by a relkd meta-architecture
    with ``nonfinite="skip"``) into one without an optimizer update.

    The model's losses on such an iteration give zero gradients to every parameter; this hook
    then drops them (``grad = None``), so the optimizer leaves parameters, moments and weight
    decay untouched. Under AMP the gradients are set to NaN instead, which makes the
    ``GradScaler`` skip the step (and lower its scale, as after any overflow).
    """

    def after_backward(self):
        model = self.trainer.model
        model = getattr(model, "module", model)
        if not getattr(model, "skip_update", False):
            return
        scaler = getattr(self.trainer, "grad_scaler", None)
        amp = scaler is not None and scaler.is_enabled()
        for p in self.trainer.model.parameters():
            if p.grad is None:
                continue
            if amp:
                p.grad.fill_(float("nan"))
            else:
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
