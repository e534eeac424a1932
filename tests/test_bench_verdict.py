"""The pre-registered verdict rule (``relkd.bench.verdict``): Welch's t by hand and against
scipy, Holm's step-down levels on a worked example, the four verdicts at their boundaries."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from relkd.bench import Comparison, decide, holm_levels, verdict, welch


def test_welch_by_hand_and_against_scipy():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]
    diff, se, df = welch(a, b)
    # variances 5/3 and 1/3 over 4 seeds: se^2 = 5/12 + 1/12 = 1/2; df = (1/2)^2 /
    # ((5/12)^2 / 3 + (1/12)^2 / 3) = 0.25 / (26/432) = 108/26
    assert diff == 2.0
    assert se == pytest.approx(math.sqrt(0.5), rel=1e-12)
    assert df == pytest.approx(108 / 26, rel=1e-12)
    (row,) = decide([Comparison("x", a, b)])
    assert row["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    # one comparison: Holm is the plain 95% interval
    half = stats.t.ppf(0.975, 108 / 26) * math.sqrt(0.5)
    assert (row["low"], row["high"]) == pytest.approx((2 - half, 2 + half), rel=1e-9)
    assert row["level"] == 0.05
    with pytest.raises(ValueError, match="two values"):
        welch([1.0], b)


def test_holm_levels_worked_example():
    # sorted: 0.005 at 0.05/4 (rejected), 0.01 at 0.05/3 (rejected), 0.03 at 0.05/2 = 0.025
    # (not rejected: the step-down stops), so 0.04 keeps 0.025
    levels = holm_levels([0.01, 0.04, 0.03, 0.005])
    assert levels == pytest.approx([0.05 / 3, 0.025, 0.025, 0.0125], rel=1e-12)
    # a plain Bonferroni would give 0.0125 to all four; no correction, 0.05
    assert holm_levels([0.2]) == [0.05]


@pytest.mark.parametrize(
    "low, high, gain, want",
    [
        (-3.0, -0.1, -1.5, "hurts"),
        (-1.0, 0.9, 0.0, "no useful help"),
        (0.2, 0.99, 0.6, "no useful help"),  # significant, but too small to be of use
        (0.1, 2.0, 1.0, "helps"),
        (0.1, 2.0, 0.99, "undecided"),  # above 0 but the gain is below 1 AP
        (-0.5, 3.0, 1.2, "undecided"),
    ],
)
def test_verdict_boundaries(low, high, gain, want):
    assert verdict(low, high, gain) == want


def test_decide_corrects_over_the_family_and_agrees_with_its_levels():
    base = [50.0, 50.5, 49.5, 50.2]
    comps = [
        Comparison("big", [54.0, 54.5, 53.8, 54.2], base),
        Comparison("small", [50.9, 51.4, 50.6, 51.2], base),
        Comparison("none", [50.1, 49.8, 50.6, 49.9], base),
        Comparison("worse", [47.0, 47.5, 46.8, 47.2], base),
    ]
    rows = decide(comps)
    assert [r["verdict"] for r in rows][0] == "helps" and rows[3]["verdict"] == "hurts"
    for r in rows:
        # the interval excludes 0 exactly when Holm rejects at the row's level
        assert (r["low"] > 0 or r["high"] < 0) == (r["p"] <= r["level"])
    # corrected intervals are wider than the uncorrected 95% ones
    alone = decide([comps[1]])[0]
    assert rows[1]["high"] - rows[1]["low"] > alone["high"] - alone["low"]
