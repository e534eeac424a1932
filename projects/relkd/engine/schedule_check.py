"""What each distiller will do over the run, said once at the start.

A distiller's ``warmup_iters`` is absolute: shorten ``train.max_iter`` below it and the run
never distills (its terms log 0). This module logs every distiller's weight and active
iterations and warns when its warm-up covers half the schedule or more.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("relkd")

# warn when a distiller is active for less than this fraction of the run
MIN_ACTIVE_FRACTION = 0.5


def distiller_schedule(model, max_iter: int) -> list[str]:
    """Log, and return, one line per distiller of ``model`` (none for a plain detector):
    its name, weight and the iterations in which it is active; warn (once per distiller) when
    its warm-up leaves it active for under half of ``max_iter`` iterations."""
    lines = []
    for d in getattr(model, "distillers", None) or []:
        start = min(d.warmup_iters, max_iter)
        active = max_iter - start
        head = f"Distiller {d.name} ({type(d).__name__}): loss_weight {_weight(d)}"
        line = (
            f"{head}, active in iterations {start}-{max_iter - 1} ({active} of {max_iter})"
            if active
            else f"{head}, never active (warmup_iters {d.warmup_iters} >= train.max_iter "
            f"{max_iter})"
        )
        lines.append(line)
        logger.info(line)
        if active < MIN_ACTIVE_FRACTION * max_iter:
            logger.warning(
                f"{d.name}'s warm-up ({d.warmup_iters} iterations) covers "
                f"{start / max_iter:.0%} of train.max_iter={max_iter}: its terms log 0 until "
                f"then. Shorten it with model.distillers.<i>.warmup_iters=N"
            )
    return lines


def _weight(d) -> str:
    """A distiller's weight as the schedule line states it."""
    if d.loss_weight != "auto":
        return f"{d.loss_weight:g}"
    per = ", one per term" if d.per_term else ""
    track = (
        f", measured again in the first {d.auto_window} of every {d.auto_track} iterations"
        if d.auto_track
        else ""
    )
    return (
        f"auto (target_ratio {d.target_ratio:g}{per}; measured in the {d.auto_window} "
        f"iterations after the warm-up, weight 0 until then{track})"
    )
