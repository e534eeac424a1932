"""Exact resume: random-number states in checkpoints, and a planned stop at an iteration."""

from __future__ import annotations

import random

import numpy as np
import torch
from detectron2.engine import HookBase

# training state kept in plain attributes, outside ``state_dict()``: RetinaNet's running
# normaliser of its losses (an EMA of the number of foreground anchors)
MODULE_EXTRAS = ("loss_normalizer",)


class RunState:
    """A checkpointable holding what a run needs to continue exactly beyond its weights,
    optimizer and scheduler: the Python, NumPy and torch (CPU and CUDA) RNG states, the data
    sampler's seed, and plain-attribute training state of the model's modules (RetinaNet's
    ``loss_normalizer``, which detectron2 does not checkpoint).

    ``DetectionCheckpointer(..., run_state=RunState(seed, model))`` saves them at save time.
    Loading only *stashes* them: :meth:`apply` sets them, so the caller can first do whatever
    a fresh run did before its first step (creating the data-loader iterator draws from the
    torch RNG) and then continue with the exact random stream of the interrupted run.
    """

    def __init__(self, sampler_seed: int, model: torch.nn.Module | None = None):
        self.sampler_seed = int(sampler_seed)
        self.model = model
        self._pending: dict | None = None

    def _extras(self) -> dict:
        if self.model is None:
            return {}
        return {
            f"{name}.{attr}": (module, attr)
            for name, module in self.model.named_modules()
            for attr in MODULE_EXTRAS
            if isinstance(getattr(module, attr, None), (int, float))
        }

    def state_dict(self) -> dict:
        # tensors and plain Python values only: checkpoints must load with weights_only=True
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state = {
            "python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
            "torch": torch.get_rng_state(),
            "sampler_seed": self.sampler_seed,
            "modules": {k: float(getattr(m, a)) for k, (m, a) in self._extras().items()},
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.sampler_seed = int(state["sampler_seed"])
        self._pending = state

    def apply(self) -> bool:
        """Set the stashed states; ``False`` if nothing was loaded."""
        if self._pending is None:
            return False
        s, self._pending = self._pending, None
        random.setstate(s["python"])
        kind, keys, pos, has_gauss, gauss = s["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(s["torch"])
        if "cuda" in s and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(s["cuda"])
        # set even where the attribute does not exist yet: detectron2 creates RetinaNet's
        # loss_normalizer at the first loss computation
        modules = dict(self.model.named_modules()) if self.model is not None else {}
        for key, value in s.get("modules", {}).items():
            name, attr = key.rsplit(".", 1)
            if name in modules:
                setattr(modules[name], attr, value)
        return True


class TrainingStopped(BaseException):
    """Raised by :class:`StopAtIteration`. A ``BaseException`` (like ``KeyboardInterrupt``) so
    that detectron2's loop runs its ``after_train`` hooks without reporting a training error."""


class StopAtIteration(HookBase):
    """Checkpoint and stop after ``stop_iter`` iterations (``train.stop_iter``), without changing
    the schedule: a planned interruption, e.g. of a time-limited job, continued with
    ``--resume``.

    Args:
        stop_iter: number of completed iterations after which to stop.
        checkpointer: saves ``model_<iter>`` before stopping (``None`` on non-main ranks).
    """

    def __init__(self, stop_iter: int, checkpointer=None):
        if stop_iter < 1:
            raise ValueError(f"StopAtIteration: stop_iter must be >= 1, got {stop_iter}")
        self.stop_iter = int(stop_iter)
        self.checkpointer = checkpointer

    def after_step(self):
        done = self.trainer.iter + 1
        if done == self.stop_iter and done < self.trainer.max_iter:
            if self.checkpointer is not None:
                self.checkpointer.save(
                    f"model_{self.trainer.iter:07d}", iteration=self.trainer.iter
                )
            raise TrainingStopped(f"stopped after {done} iterations (train.stop_iter)")
