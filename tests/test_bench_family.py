"""The quality table's family rule (``relkd.bench.family``): every method row of every detector
Holm-corrected together, and ``loss_weight="auto"`` rows against their hand-weighted rows."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from relkd.bench.family import auto_against_hand, comparisons, family_table
from relkd.bench.tables import aggregate
from relkd.bench.verdict import holm_levels


def rows(**aps: list[float]) -> dict:
    """A detector's aggregated rows from per-seed APs (``summary.json`` shaped runs)."""
    return {
        k: aggregate([{"results": {"bbox": {"AP": v}}} for v in vals]) for k, vals in aps.items()
    }


RESULTS = {
    "retinanet": rows(
        teacher=[60.0],
        baseline=[10.0, 11.0, 12.0],
        fgfi=[20.0, 21.0, 22.5],
        pkd=[3.0, 3.1, 2.9],
        **{"pkd@auto": [1.0, 1.1, 0.9]},
    ),
    "faster_rcnn": rows(
        teacher=[62.0],
        baseline=[30.0, 31.0, 32.0],
        cwd=[30.5, 31.5, 31.0],
        **{"cwd@auto": [31.0, 32.0, 33.0]},
    ),
}


def test_the_family_is_every_method_row_of_every_detector():
    comps = comparisons(RESULTS)
    keys = [c.key for c in comps]
    assert keys == [
        "retinanet/fgfi",
        "retinanet/pkd",
        "retinanet/pkd@auto",
        "faster_rcnn/cwd",
        "faster_rcnn/cwd@auto",
    ]
    assert list(comps[3].baseline) == [30.0, 31.0, 32.0]
    # a row with one seed has no interval and stays out of the family
    one = {"retinanet": rows(teacher=[60.0], baseline=[1.0, 2.0], fgfi=[3.0])}
    assert comparisons(one) == []


def test_family_table_levels_are_holm_over_all_detectors():
    text = family_table(RESULTS)
    assert text.startswith("Holm over 5 comparisons")
    comps = comparisons(RESULTS)
    p = [stats.ttest_ind(c.method, c.baseline, equal_var=False).pvalue for c in comps]
    levels = holm_levels(p)
    lines = [
        x for x in text.splitlines() if x.startswith("| retinanet") or x.startswith("| faster")
    ]
    for line, level in zip(lines, levels):
        assert f"| {level:.4f} |" in line
    # FGFI's +10.2 AP over a 1-AP spread: helps; PKD's -8 AP: hurts even corrected
    assert lines[0].endswith("| helps |") and lines[1].endswith("| hurts |")


def test_auto_against_hand_by_hand():
    found = {a["key"]: a for a in auto_against_hand(RESULTS)}
    assert set(found) == {"retinanet/pkd@auto", "faster_rcnn/cwd@auto"}
    cwd = found["faster_rcnn/cwd@auto"]
    # auto 31, 32, 33 against hand 30.5, 31.5, 31: diff 1; variances 1 and 0.25 over 3 seeds:
    # se^2 = 1/3 + 1/12 = 5/12; df = (5/12)^2 / ((1/3)^2 / 2 + (1/12)^2 / 2) = 3.7647...
    se = math.sqrt(5 / 12)
    df = (5 / 12) ** 2 / ((1 / 3) ** 2 / 2 + (1 / 12) ** 2 / 2)
    half = stats.t.ppf(0.975, df) * se
    assert cwd["diff"] == pytest.approx(1.0, abs=1e-12)
    assert (cwd["low"], cwd["high"]) == pytest.approx((1 - half, 1 + half), rel=1e-9)
    assert cwd["within"]
    # PKD's auto row is 2 AP under its hand row with little spread: worse beyond noise
    assert found["retinanet/pkd@auto"]["high"] < 0
    assert not found["retinanet/pkd@auto"]["within"]
    auto_lines = family_table(RESULTS).split("not worse |", 1)[1].splitlines()[2:]
    assert auto_lines[0].startswith("| retinanet |") and auto_lines[0].endswith("| no |")
    assert auto_lines[1].startswith("| faster_rcnn |") and auto_lines[1].endswith("| yes |")


def test_mask_ap_joins_the_family_as_its_own_comparison():
    def masked(box: list[float], mask: list[float]) -> dict:
        runs = [{"results": {"bbox": {"AP": b}, "segm": {"AP": m}}} for b, m in zip(box, mask)]
        return aggregate(runs)

    results = {
        "mask_rcnn": {
            "teacher": masked([40.0], [35.0]),
            "baseline": masked([20.0, 21.0, 22.0], [15.0, 16.0, 17.0]),
            "fgfi": masked([30.0, 31.0, 32.0], [15.0, 16.5, 17.0]),
        }
    }
    comps = comparisons(results)
    assert [c.key for c in comps] == ["mask_rcnn/fgfi", "mask_rcnn/fgfi (mask AP)"]
    assert list(comps[1].method) == [15.0, 16.5, 17.0]
    assert list(comps[1].baseline) == [15.0, 16.0, 17.0]
    lines = family_table(results).splitlines()
    assert lines[0] == "Holm over 2 comparisons (family-wise alpha 0.05):"
    assert lines[-1].startswith("| mask_rcnn | FGFI (mask AP) | +0.17 |")
    # +0.17 over spreads of about 1 on 3 seeds: the interval reaches past 1 AP and below 0
    assert lines[-1].endswith("| undecided |")
    assert lines[-2].startswith("| mask_rcnn | FGFI | +10.00 |") and lines[-2].endswith("| helps |")
