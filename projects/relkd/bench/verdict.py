"""The verdict rule of the comparison at convergence (BENCHMARKS.md, "The rule, written before
the runs"): per (detector, method), the gain of the method's mean AP over the baseline's, a
Welch t interval Holm-corrected over the family of comparisons, and one of four verdicts.

- ``"hurts"``: the corrected interval lies below 0.
- ``"no useful help"``: its upper bound is below ``min_gain`` (1 AP).
- ``"helps"``: its lower bound is above 0 and the gain is at least ``min_gain``.
- ``"undecided"``: none of these (the rule then adds its pre-declared seeds, once).

Holm's step-down over ``k`` comparisons: sorted by their Welch p-values, the ``j``-th (from 1)
is tested at ``alpha / (k - j + 1)`` until the first that is not rejected; that one and every
later one are tested at the first's level. Each comparison's interval has the confidence that
matches its level (``1 - level``), so "the interval excludes 0" and "Holm rejects" agree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05
MIN_GAIN = 1.0  # AP: the smallest gain the rule calls useful


@dataclass(frozen=True)
class Comparison:
    """One (detector, method) comparison: the AP of each seed of the method and of the
    baseline."""

    key: str
    method: Sequence[float]
    baseline: Sequence[float]


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), standard error, Welch-Satterthwaite degrees of freedom)``; at
    least two values on each side. With no spread on either side the error is 0 and the degrees
    of freedom are infinite."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"welch: needs two values or more on each side, got {len(a)} and {len(b)}")
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.mean(a) - statistics.mean(b)
    if va + vb == 0:
        return diff, 0.0, math.inf
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return diff, math.sqrt(va + vb), df


def _p_value(diff: float, se: float, df: float) -> float:
    """Two-sided p-value of ``diff == 0`` under Welch's t."""
    from scipy.stats import t

    if se == 0:
        return 0.0 if diff != 0 else 1.0
    return float(2 * t.sf(abs(diff) / se, df))


def _interval(diff: float, se: float, df: float, level: float) -> tuple[float, float]:
    """The two-sided interval of confidence ``1 - level``."""
    from scipy.stats import t

    half = 0.0 if se == 0 else float(t.ppf(1 - level / 2, df)) * se
    return diff - half, diff + half


def holm_levels(pvalues: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """Each p-value's Holm test level, in the input order (see the module docstring)."""
    k = len(pvalues)
    order = sorted(range(k), key=lambda i: pvalues[i])
    levels = [0.0] * k
    stopped = None
    for j, i in enumerate(order):
        level = alpha / (k - j) if stopped is None else stopped
        if stopped is None and pvalues[i] > level:
            stopped = level
        levels[i] = level
    return levels


def verdict(low: float, high: float, gain: float, min_gain: float = MIN_GAIN) -> str:
    """The rule's verdict from a corrected interval ``[low, high]`` and the gain."""
    if high < 0:
        return "hurts"
    if high < min_gain:
        return "no useful help"
    if low > 0 and gain >= min_gain:
        return "helps"
    return "undecided"


def decide(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[dict]:
    """The verdict of every comparison of one family, Holm-corrected over the family.

    Returns:
        Per comparison, in order: ``key``, ``gain``, ``p`` (Welch, uncorrected), ``level``
        (its Holm level), ``low``/``high`` (the interval at confidence ``1 - level``),
        ``verdict``, and the seed counts ``n_method`` and ``n_baseline``.
    """
    stats = [welch(c.method, c.baseline) for c in comparisons]
    pvalues = [_p_value(*s) for s in stats]
    out = []
    for c, s, p, level in zip(comparisons, stats, pvalues, holm_levels(pvalues, alpha)):
        low, high = _interval(*s, level)
        out.append(
            {
                "key": c.key,
                "gain": s[0],
                "p": p,
                "level": level,
                "low": low,
                "high": high,
                "verdict": verdict(low, high, s[0]),
                "n_method": len(c.method),
                "n_baseline": len(c.baseline),
            }
        )
    return out
