"""An optimizer that carries out what a distillation config asks of each update, under any loop.

relkd's ``train_net.py`` could clip gradients and skip updates with hooks, but detectron2's own
scripts (``lazyconfig_train_net.py``, ``DefaultTrainer``, ``plain_train_net.py``) install no
relkd hook: a clip setting in ``cfg.train`` was dropped and a skipped iteration still applied
weight decay and optimizer moments. Here both live in the optimizer, which every loop builds
from the config and steps:

- ``clip_grad_norm``: the global L2 norm of the gradients is clipped before the update (after
  ``GradScaler`` unscaled them under AMP), and the norm before clipping is logged as
  ``grad_norm``;
- an optimizer built with ``fused=True`` (one kernel for every parameter: on a CPU much
  cheaper than the per-tensor loop when a distiller adds many small parameters; ``"auto"``
  takes it where the installed torch has it, :func:`build_guarded`) is unscaled here
  under ``GradScaler``, which leaves that to the fused kernel, so that clipping sees the true
  gradients;
- a step whose gradients are not finite is not taken: no parameter, moment or weight decay
  changes. relkd's meta-architectures with ``nonfinite="skip"`` make every gradient NaN on an
  iteration they skip (:mod:`relkd.meta_arch.nonfinite`), so under DDP the gradient all-reduce
  carries one rank's skip to every rank and all of them skip the same step. The step is
  logged (WARNING, and ``relkd/skipped_steps`` in the event storage).

Checking finiteness reads one number from the device per step (the norm that clipping computes
anyway).

LazyConfig::

    optimizer = guarded(get_config("common/optim.py").AdamW, clip_grad_norm=10.0)

yacs (``DefaultTrainer``)::

    @classmethod
    def build_optimizer(cls, cfg, model):
        return relkd.engine.optim.build_optimizer(cfg, model)
"""

from __future__ import annotations

import functools
import logging
import math

import torch
from detectron2.config import LazyCall as L
from detectron2.utils.registry import locate
from torch.nn.utils import clip_grad_norm_

from ..meta_arch.nonfinite import GUARDED_PARAM
from ..utils.events import current_storage

logger = logging.getLogger("relkd")


def _check_clip(clip_grad_norm) -> float | None:
    if clip_grad_norm is None:
        return None
    ok = isinstance(clip_grad_norm, (int, float)) and not isinstance(clip_grad_norm, bool)
    if not ok or not math.isfinite(clip_grad_norm) or clip_grad_norm <= 0:
        raise ValueError(
            f"clip_grad_norm must be a finite number > 0 (or None: no clipping), got "
            f"{clip_grad_norm!r}"
        )
    return float(clip_grad_norm)


def _with_grads(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The parameters of ``optimizer`` that have a gradient."""
    return [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]


def total_grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm over the gradients of ``params``, shape ``()``."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))


def _unscale_here(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> None:
    """Unscale the gradients of a fused optimizer stepped by ``GradScaler``.

    ``GradScaler.step`` does not unscale the gradients of an optimizer that can do it in its own
    kernel (``fused=True``): it hands the scale over as ``optimizer.grad_scale``. Clipping, the
    logged norm and the finiteness check need the true gradients, so they are unscaled here and
    the scale is cleared (the kernel must not divide again). Nothing happens when the gradients
    were unscaled already (``scaler.unscale_(optimizer)``, or an optimizer that is not fused).
    """
    scale = getattr(optimizer, "grad_scale", None)
    if scale is None:
        return
    # the reciprocal in float64, as GradScaler.unscale_ does (exact for its powers of two)
    inv = scale.double().reciprocal().float()
    for p in params:
        p.grad.mul_(inv.to(p.grad.device))
    optimizer.grad_scale = None


@functools.cache
def _guarded_class(cls: type) -> type:
    """``cls`` with a ``step`` that clips and refuses non-finite gradients first."""

    def step(self, closure=None):
        params = _with_grads(self)
        if params:
            _unscale_here(self, params)
            clip = self.relkd_clip_grad_norm
            # the norm before clipping; clip_grad_norm_ computes it anyway
            norm = total_grad_norm(params) if clip is None else clip_grad_norm_(params, clip)
            storage = current_storage()
            if not torch.isfinite(norm):  # the one read from the device per step
                self.skipped_steps += 1
                logger.warning(
                    "Iteration %s: the gradient norm is %s; the optimizer step is skipped (no "
                    "parameter, moment or weight decay changes)",
                    storage.iter if storage is not None else "?",
                    float(norm),
                )
                if storage is not None:
                    storage.put_scalar("relkd/skipped_steps", self.skipped_steps, False)
                return None
            if storage is not None:
                storage.put_scalar("grad_norm", norm)
        return cls.step(self, closure)

    return type(f"Guarded{cls.__name__}", (cls,), {"step": step, "__module__": __name__})


def guard_optimizer(
    optimizer: torch.optim.Optimizer, clip_grad_norm: float | None = None
) -> torch.optim.Optimizer:
    """Make ``optimizer`` (in place; returned) clip to ``clip_grad_norm`` and skip steps whose
    gradients are not finite. Its parameters are marked, so that a relkd meta-architecture with
    ``nonfinite="skip"`` knows its skips will be honoured."""
    clip = _check_clip(clip_grad_norm)
    if hasattr(optimizer, "relkd_clip_grad_norm"):
        raise ValueError(f"{type(optimizer).__name__} is guarded already")
    optimizer.__class__ = _guarded_class(type(optimizer))
    optimizer.relkd_clip_grad_norm = clip
    optimizer.skipped_steps = 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            setattr(p, GUARDED_PARAM, True)
    return optimizer


def build_guarded(
    optimizer_class: str | type, clip_grad_norm: float | None = None, **kwargs
) -> torch.optim.Optimizer:
    """``optimizer_class(**kwargs)`` guarded by :func:`guard_optimizer` (the ``_target_`` of the
    nodes :func:`guarded` writes).

    ``fused="auto"`` (relkd's, not torch's): the fused kernel where this torch has one for the
    class and every parameter's device and dtype (AdamW on a CPU from torch 2.4, on CUDA), the
    class's own update otherwise, with a log line that says why.
    """
    cls = locate(optimizer_class) if isinstance(optimizer_class, str) else optimizer_class
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise TypeError(f"optimizer_class must name a torch optimizer, got {optimizer_class!r}")
    fused = kwargs.get("fused")
    if isinstance(fused, str):
        if fused != "auto":
            raise ValueError(f"fused must be True, False, None or 'auto', got {fused!r}")
        return guard_optimizer(_fused_if_supported(cls, kwargs), clip_grad_norm)
    return guard_optimizer(cls(**kwargs), clip_grad_norm)


def _fused_if_supported(cls: type, kwargs: dict) -> torch.optim.Optimizer:
    """``cls(**kwargs, fused=True)``, or ``cls`` without ``fused`` where that is refused (a class
    without the argument, a device or dtype without the kernel, ``foreach=True`` beside it): any
    other error is raised by the second construction."""
    args = {**kwargs, "params": list(kwargs["params"])}  # a generator would be spent by a try
    try:
        return cls(**{**args, "fused": True})
    except (TypeError, RuntimeError, ValueError) as e:
        optimizer = cls(**{k: v for k, v in args.items() if k != "fused"})
        logger.info("fused='auto': %s's own update is used, not a fused one (%s)", cls.__name__, e)
        return optimizer


def guarded(node, clip_grad_norm: float | None = None):
    """Config-time: the optimizer node ``node`` (e.g. ``get_config("common/optim.py").AdamW``)
    turned into one that builds the same optimizer, guarded. ``node.params`` stays where
    detectron2's scripts set ``cfg.optimizer.params.model``."""
    _check_clip(clip_grad_norm)
    args = {k: v for k, v in node.items() if k != "_target_"}
    target = node._target_
    name = target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"
    return L(build_guarded)(optimizer_class=name, clip_grad_norm=clip_grad_norm, **args)


def build_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    """detectron2's yacs ``build_optimizer(cfg, model)`` (``SOLVER.*``, its gradient clipping
    included), guarded; for a ``DefaultTrainer.build_optimizer`` override."""
    from detectron2.solver import build_optimizer as d2_build_optimizer

    return guard_optimizer(d2_build_optimizer(cfg, model))
