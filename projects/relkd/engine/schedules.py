"""LR multipliers defined relative to ``max_iter`` so that ``train.max_iter=N`` overrides work."""

from __future__ import annotations

from collections.abc import Sequence

from detectron2.solver import WarmupParamScheduler
from fvcore.common.param_scheduler import MultiStepParamScheduler


def multistep_with_warmup(
    max_iter: int,
    steps: Sequence[float] = (0.75, 0.9),
    gamma: float = 0.1,
    warmup_iters: int = 200,
    warmup_factor: float = 0.001,
) -> WarmupParamScheduler:
    """Step schedule: multiply by ``gamma`` at each fraction in ``steps`` of ``max_iter``.

    Args:
        max_iter: total iterations (use ``"${train.max_iter}"`` in a LazyConfig).
        steps: increasing fractions of ``max_iter`` in (0, 1).
        warmup_iters: linear warm-up length, capped at ``max_iter``.
    """
    max_iter = int(max_iter)
    if max_iter <= 0:
        raise ValueError(f"multistep_with_warmup: max_iter must be > 0, got {max_iter}")
    if any(not 0 < s < 1 for s in steps) or list(steps) != sorted(steps):
        raise ValueError(f"multistep_with_warmup: steps must increase within (0, 1), got {steps}")
    # very short runs (tests, smoke runs) collapse milestones that round to the same iteration
    milestones = sorted({max(1, int(max_iter * s)) for s in steps} - {max_iter})
    # a multi-step schedule also when no milestone is left (one value): fvcore's constant
    # scheduler refuses where == 1.0, which the warm-up evaluates when it spans the whole run
    base = MultiStepParamScheduler(
        values=[gamma**i for i in range(len(milestones) + 1)],
        milestones=milestones or None,
        num_updates=max_iter,
    )
    return WarmupParamScheduler(
        base,
        warmup_factor=warmup_factor,
        warmup_length=min(1.0, warmup_iters / max_iter),
    )


def prefix_lr_factor(module_name: str, prefix: str = "backbone.", factor: float = 0.1) -> float:
    """Learning-rate factor for ``get_default_optimizer_params(lr_factor_func=...)``: ``factor``
    for parameters whose module name starts with ``prefix`` (DETR's 10x lower backbone rate)."""
    return factor if module_name.startswith(prefix) else 1.0
