"""The quality table of ``tools/quality.py``: runs aggregated over seeds, the gain over the
baseline with its Welch confidence interval, the markdown table and the AP plot.

A row's key is ``"teacher"``, ``"teacher_<family>"`` (the teacher of another detector family,
for a method whose :attr:`~.methods.Method.teacher` names it), ``"baseline"`` or a method of
:data:`~.methods.METHODS` with its weighting: ``"fgfi"`` or ``"fgfi@auto"``."""

from __future__ import annotations

import statistics

from .methods import DETECTORS, METHODS

# the rows that are no method
ROLE_LABELS = {"teacher": "teacher (R50)", "baseline": "baseline student (R18)"}


def teacher_family(key: str) -> str | None:
    """The detector family of the teacher a row's method distils from when that is not the
    student's own (:attr:`~.methods.Method.teacher`); ``None`` otherwise, and for the baseline
    and teacher rows."""
    method = row_method(key)[0]
    return METHODS[method].teacher if method in METHODS else None


def teacher_key(key: str) -> str:
    """The key of the teacher row that a row's gap recovered is measured against."""
    family = teacher_family(key)
    return f"teacher_{family}" if family else "teacher"


def is_teacher(key: str) -> bool:
    """Whether a row is a teacher's (``teacher``, or ``teacher_<family>`` of :func:`teacher_key`):
    one run, no gain over the baseline."""
    return key == "teacher" or key.startswith("teacher_")


def row_method(key: str) -> tuple[str, str]:
    """``(method, weighting)`` of a table row's key: ``"fgfi"`` or ``"fgfi@auto"``."""
    method, _, weighting = key.partition("@")
    return method, weighting or "config"


def _name(method: str) -> str:
    """The label of a row's method part (a role, a teacher of another family or a method)."""
    if method in ROLE_LABELS:
        return ROLE_LABELS[method]
    if is_teacher(method):
        return f"teacher ({DETECTORS[method[len('teacher_') :]]} R50)"
    return METHODS[method].label


def label(key: str) -> str:
    """A row's label: ``"fgfi@auto"`` is FGFI with ``loss_weight="auto"``."""
    method, weighting = row_method(key)
    if weighting == "config":
        return _name(method)
    name, _, ratio = weighting.partition(":")
    return _name(method) + f", {name} weights" + (f" (target ratio {ratio})" if ratio else "")


def bbox(summary: dict) -> dict:
    return summary.get("results", {}).get("bbox", {})


def segm(summary: dict) -> dict:
    """The mask metrics of a run (COCOEvaluator's ``segm``; empty for a box-only model)."""
    return summary.get("results", {}).get("segm", {})


def aggregate(runs: list[dict]) -> dict:
    """Mean, sample standard deviation and range (max - min) over seeds of the box AP, AP50,
    APs and of the mask AP (``mask_AP``; ``None`` without masks), each seed's value
    (``<k>_all``); median s/iter."""
    out = {"n": len(runs)}
    for k, metrics in (("AP", bbox), ("AP50", bbox), ("APs", bbox), ("mask_AP", segm)):
        name = k.removeprefix("mask_")
        vals = [metrics(r)[name] for r in runs if name in metrics(r)]
        out[k] = statistics.mean(vals) if vals else None
        out[k + "_std"] = statistics.stdev(vals) if len(vals) > 1 else None
        out[k + "_range"] = (max(vals) - min(vals)) if len(vals) > 1 else None
        out[k + "_all"] = vals
    secs = [r["sec_per_iter"] for r in runs if r.get("sec_per_iter") is not None]
    out["sec_per_iter"] = statistics.median(secs) if secs else None
    return out


def welch_ci(a: list[float], b: list[float], level: float = 0.95) -> tuple[float, float] | None:
    """Confidence interval of ``mean(a) - mean(b)`` by Welch's t (unequal variances, the
    Welch-Satterthwaite degrees of freedom); ``None`` with fewer than two values on a side.
    With no spread on either side the interval is the difference itself."""
    from scipy.stats import t

    if len(a) < 2 or len(b) < 2:
        return None
    diff = statistics.mean(a) - statistics.mean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = (va + vb) ** 0.5
    if se == 0:
        return diff, diff
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = t.ppf(0.5 + level / 2, df) * se
    return diff - half, diff + half


def _fmt(x, nd=1, signed=False):
    if x is None:
        return "-"
    return f"{x:+.{nd}f}" if signed else f"{x:.{nd}f}"


def table(results: dict) -> str:
    """Markdown table: per detector the teacher, the baseline and each method, with AP as
    mean and standard deviation over seeds, every seed's AP, the gain over the baseline with
    its 95% Welch CI, whether that CI excludes 0, and the fraction of the teacher-student gap
    recovered."""
    lines = [
        "| detector | model | seeds | AP | AP std | AP per seed | AP50 | APs | gain (AP) "
        "| 95% CI of gain (Welch) | CI excludes 0 | gap recovered | s/iter |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---|---|---:|---:|",
    ]
    for det, rows in results.items():
        base = rows["baseline"]
        for key, agg in rows.items():
            gain = gap = ci = None
            if not is_teacher(key) and key != "baseline" and agg["AP"] is not None:
                teacher = rows[teacher_key(key)]["AP"]
                gain = agg["AP"] - base["AP"]
                if teacher is not None and teacher - base["AP"] > 0:
                    gap = gain / (teacher - base["AP"])
                ci = welch_ci(agg["AP_all"], base["AP_all"])
            seeds = ", ".join(f"{v:.2f}" for v in agg["AP_all"])
            ci_text = "-" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"
            excludes = "-" if ci is None else ("yes" if ci[0] > 0 or ci[1] < 0 else "no")
            lines.append(
                f"| {det} | {label(key)} | {agg['n']} | {_fmt(agg['AP'], 2)} | "
                f"{_fmt(agg['AP_std'], 2)} | {seeds} | {_fmt(agg['AP50'])} | "
                f"{_fmt(agg['APs'])} | {_fmt(gain, 2, signed=True)} | {ci_text} | {excludes} | "
                f"{'-' if gap is None else f'{gap:.0%}'} | {_fmt(agg['sec_per_iter'], 3)} |"
            )
    return "\n".join(lines)


def mask_table(results: dict) -> str:
    """Markdown table of the mask AP of every detector whose runs have masks (Mask R-CNN): per
    row its mean, standard deviation and per-seed values, and the gain over the baseline with
    its 95% Welch CI; ``""`` when no run has masks."""
    lines = []
    for det, rows in results.items():
        base = rows.get("baseline", {}).get("mask_AP_all", [])
        for key, agg in rows.items():
            if agg.get("mask_AP") is None:
                continue
            gain = ci = None
            if not is_teacher(key) and key != "baseline" and base:
                gain = agg["mask_AP"] - statistics.mean(base)
                ci = welch_ci(agg["mask_AP_all"], base)
            seeds = ", ".join(f"{v:.2f}" for v in agg["mask_AP_all"])
            ci_text = "-" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"
            lines.append(
                f"| {det} | {label(key)} | {agg['n']} | {_fmt(agg['mask_AP'], 2)} | "
                f"{_fmt(agg['mask_AP_std'], 2)} | {seeds} | {_fmt(gain, 2, signed=True)} | "
                f"{ci_text} |"
            )
    if not lines:
        return ""
    head = [
        "| detector | model | seeds | mask AP | mask AP std | mask AP per seed | gain (mask AP) "
        "| 95% CI of gain (Welch) |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    return "\n".join(head + lines)


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (det, rows) in zip(axes[0], results.items()):
        keys = list(rows)
        means = [rows[k]["AP"] or 0.0 for k in keys]
        colors = ["#555" if is_teacher(k) else "#999" if k == "baseline" else "#3a7" for k in keys]
        ax.bar(range(len(keys)), means, color=colors)
        for i, k in enumerate(keys):  # every seed as a dot
            ax.plot([i] * len(rows[k]["AP_all"]), rows[k]["AP_all"], "k.", ms=8)
        ax.axhline(rows["baseline"]["AP"] or 0.0, color="#999", ls="--", lw=1)
        ax.set_xticks(range(len(keys)), [label(k) for k in keys], rotation=30, ha="right")
        ax.set_ylabel("COCO box AP, digits_det_val")
        ax.set_title(det)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
