"""Non-finite distillation terms: raise (default) or skip the iteration's update.

A skip is requested through the gradients, not a collective: the skipping rank's losses give
every trainable parameter a NaN gradient, DDP's all-reduce carries it to every rank, and the
optimizer step is left out wherever the gradient is not finite (a guarded optimizer,
``relkd.engine.optim``; relkd's ``NonFiniteSkip`` hook; AMP's ``GradScaler``).
"""

from __future__ import annotations

import logging

import torch

from ..config import NONFINITE
from ..distillers.checks import check_whole_number
from ..utils.events import current_storage, to_host

logger = logging.getLogger(__name__)

# set (True) on the parameters of an optimizer that skips steps with non-finite gradients
# (relkd.engine.optim.guard_optimizer): what nonfinite="skip" needs from the training loop
GUARDED_PARAM = "_relkd_guarded"


class _NaNGradient(torch.autograd.Function):
    """Forward: zeros shaped like the input; backward: NaN for the input's gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return torch.full_like(grad, float("nan"))


class NonFiniteGuard:
    """The ``nonfinite`` policy of a distilling meta-architecture. The host calls
    :meth:`_init_nonfinite` at construction, :meth:`_check_skip_honoured` at the start of each
    training step, records the names of non-finite terms in ``self._bad_terms``, and returns
    its losses through :meth:`_guard_nonfinite`; it provides ``parameters()`` and
    ``_iteration()``."""

    def _init_nonfinite(self, nonfinite: str, max_consecutive_skips: int) -> None:
        if nonfinite not in NONFINITE:
            raise ValueError(f"nonfinite must be one of {NONFINITE}, got {nonfinite!r}")
        self.nonfinite = nonfinite
        self.max_consecutive_skips = check_whole_number(
            "max_consecutive_skips", max_consecutive_skips
        )
        self._skips_in_a_row = 0
        self.skip_update = False  # this rank asked for the step to be left out
        self.skip_hook = False  # set by relkd's NonFiniteSkip hook, which honours skips
        self._skip_checked = False
        self._bad_terms: list[str] = []  # set by the host's distill_losses each iteration
        self.skipped_iters = 0

    def _check_skip_honoured(self) -> None:
        """With ``nonfinite="skip"``, refuse to train (once, at the first training iteration)
        unless the optimizer step of a skipped iteration will be left out: the optimizer is
        guarded (:func:`relkd.engine.optim.guard_optimizer`) or relkd's ``NonFiniteSkip`` hook
        is registered. An unguarded step applies weight decay and moments even to zero
        gradients, and NaN gradients to the weights."""
        if self.nonfinite != "skip" or self._skip_checked:
            return
        trainable = [p for p in self.parameters() if p.requires_grad]
        guarded = all(getattr(p, GUARDED_PARAM, False) for p in trainable)
        if not (guarded or self.skip_hook):
            raise ValueError(
                "nonfinite='skip' needs an optimizer that leaves out the step of a skipped "
                "iteration, and this loop's does not: build it with "
                "relkd.engine.optim.guarded(<optimizer node>) in a LazyConfig, or return "
                "relkd.engine.optim.build_optimizer(cfg, model) from DefaultTrainer."
                "build_optimizer, or train with relkd's train_net.py (its NonFiniteSkip hook); "
                "or set nonfinite='raise'"
            )
        self._skip_checked = True

    def _guard_nonfinite(self, losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """With ``nonfinite="skip"``: if a distillation term is non-finite on this rank, return
        finite losses whose backward gives every trainable parameter a NaN gradient, and set
        ``skip_update``. A guarded optimizer, relkd's ``NonFiniteSkip`` hook or AMP's
        ``GradScaler`` then leaves the step out; under DDP the gradient all-reduce carries the
        NaN to every rank, so all of them skip the same step without a collective here."""
        self.skip_update = False
        if self.nonfinite != "skip":
            return losses
        if not self._bad_terms:
            self._skips_in_a_row = 0
            return losses
        self.skip_update = True
        self.skipped_iters += 1
        self._skips_in_a_row += 1
        if self._skips_in_a_row > self.max_consecutive_skips:
            names = [k for k, v in losses.items() if not torch.isfinite(v).all()]
            raise FloatingPointError(
                f"{self._skips_in_a_row} iterations in a row up to iteration {self._iteration()} "
                f"had non-finite losses ({', '.join(names)}); nonfinite='skip' stops after "
                f"max_consecutive_skips={self.max_consecutive_skips}. Check the input data and "
                "the learning rate"
            )
        logger.warning(
            "Skipping iteration %d (no update): non-finite distillation term(s) %s",
            self._iteration(),
            ", ".join(self._bad_terms),
        )
        storage = current_storage()
        if storage is not None:
            storage.put_scalar("relkd/skipped_iters", self.skipped_iters, smoothing_hint=False)
        poison = sum(
            _NaNGradient.apply(p.reshape(-1)[:1]).sum()
            for p in self.parameters()
            if p.requires_grad
        )
        out = {
            k: v.detach() if torch.isfinite(v).all() else torch.zeros_like(v)
            for k, v in losses.items()
        }
        first = next(iter(out))
        out[first] = out[first] + poison
        return out

    def _check_finite(self, losses: dict, logs: dict, iteration: int) -> None:
        """Apply the ``nonfinite`` policy to the distillation terms and turn the distillers'
        device-side diagnostics in ``logs`` into floats, in place, through one device-to-host
        transfer: the only point where a distillation step makes the host wait for the device
        (a check per term would wait once per term)."""
        pending = [k for k, v in logs.items() if isinstance(v, torch.Tensor)]
        values = to_host(
            [torch.isfinite(v).all() for v in losses.values()] + [logs[k] for k in pending]
        )
        finite, diagnostics = values[: len(losses)], values[len(losses) :]
        logs.update(zip(pending, diagnostics))
        # only when a term is not finite: its value, read for the message
        bad = [(k, v.item()) for (k, v), ok in zip(losses.items(), finite) if not ok]
        if bad and self.nonfinite == "raise":
            raise FloatingPointError(
                f"Distillation term {bad[0][0]} is {bad[0][1]} at iteration {iteration} (set the "
                "model's nonfinite='skip' to skip such iterations)"
            )
        self._bad_terms = [f"{k}={v}" for k, v in bad]
