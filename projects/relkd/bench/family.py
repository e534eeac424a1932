"""The rule of the quality table's method rows taken as one family (BENCHMARKS.md, "Eight CNN
methods on one table"): every method row of every detector against its baseline,
Holm-corrected over all of them (:func:`relkd.bench.verdict.decide`), and each
``loss_weight="auto"`` row against the hand-weighted row of its method.

Rows are those of :func:`relkd.bench.tables.aggregate` per detector, keyed as in
:mod:`relkd.bench.tables` (``"pkd"``, ``"pkd@auto"``).
"""

from __future__ import annotations

from .tables import is_teacher, label, row_method, welch_ci
from .verdict import Comparison, decide

# the metrics compared, with the suffix of their comparisons' keys: box AP, and the mask AP of
# detectors that predict masks
METRICS = (("AP_all", ""), ("mask_AP_all", " (mask AP)"))


def comparisons(results: dict) -> list[Comparison]:
    """One :class:`~relkd.bench.verdict.Comparison` per method row and metric with two seeds or
    more on both sides, keyed ``"<detector>/<row>"`` for the box AP and ``"<detector>/<row>
    (mask AP)"`` for the mask AP, in the table's order."""
    out = []
    for det, rows in results.items():
        for key, agg in rows.items():
            if is_teacher(key) or key == "baseline":
                continue
            for metric, suffix in METRICS:
                base = rows["baseline"].get(metric, [])
                if len(agg.get(metric, [])) >= 2 and len(base) >= 2:
                    out.append(Comparison(f"{det}/{key}{suffix}", agg[metric], base))
    return out


def auto_against_hand(results: dict) -> list[dict]:
    """Per ``<method>@auto`` row whose method also has its hand-weighted row: ``key``, ``diff``
    (auto's mean AP minus the hand row's), ``low``/``high`` (its Welch 95% interval) and
    ``within`` (the interval contains 0 or lies above it: auto is not worse beyond noise)."""
    out = []
    for det, rows in results.items():
        for key, agg in rows.items():
            method, weighting = row_method(key)
            if weighting != "auto" or method not in rows:
                continue
            a, h = agg["AP_all"], rows[method]["AP_all"]
            ci = welch_ci(a, h)
            if ci is None:
                continue
            diff = sum(a) / len(a) - sum(h) / len(h)
            out.append(
                {
                    "key": f"{det}/{key}",
                    "diff": diff,
                    "low": ci[0],
                    "high": ci[1],
                    "within": ci[1] >= 0,
                }
            )
    return out


def family_table(results: dict) -> str:
    """Markdown: the Holm-corrected verdict of every method row, then auto against hand."""
    decided = decide(comparisons(results))
    lines = [
        f"Holm over {len(decided)} comparisons (family-wise alpha 0.05):",
        "",
        "| detector | method | gain (AP) | Welch p | Holm level | corrected interval | verdict |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for d in decided:
        det, key = d["key"].split("/", 1)
        key, _, metric = key.partition(" ")
        name = f"{label(key)} {metric}".rstrip()
        lines.append(
            f"| {det} | {name} | {d['gain']:+.2f} | {d['p']:.3g} | {d['level']:.4f} | "
            f"[{d['low']:+.2f}, {d['high']:+.2f}] | {d['verdict']} |"
        )
    autos = auto_against_hand(results)
    if autos:
        lines += [
            "",
            "| detector | auto row | auto minus hand (AP) | Welch 95% interval | not worse |",
            "|---|---|---:|---|---|",
        ]
        for a in autos:
            det, key = a["key"].split("/", 1)
            lines.append(
                f"| {det} | {label(key)} | {a['diff']:+.2f} | [{a['low']:+.2f}, {a['high']:+.2f}] "
                f"| {'yes' if a['within'] else 'no'} |"
            )
    return "\n".join(lines)
