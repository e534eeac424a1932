"""The tables and the plot of the comparison at convergence (:mod:`.converged` collects the
results they read: ``results[det]`` with the teachers' AP and, per arm and schedule,
``[(seed, AP, teacher)]``)."""

from __future__ import annotations


def _mean(rows) -> float | None:
    vals = [a for _, a, _ in rows]
    return sum(vals) / len(vals) if vals else None


def _fmt(x, signed: bool = False) -> str:
    return "-" if x is None else (f"{x:+.2f}" if signed else f"{x:.2f}")


def report(results: dict, rows: list[dict]) -> str:
    """Markdown: the teachers, the baseline's plateau and the teacher's lead over it, the
    learning curve (mean AP per arm and schedule) and the verdict table."""
    from .converged import CURVE, METHODS, SEEDS

    out = [
        "| detector | teacher A AP | teacher B AP | baseline L/2 | baseline L | L - L/2 "
        "| plateau (within 1.5) | teachers' mean - baseline L |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for det, arms in results.items():
        its = sorted(arms["baseline"])
        half, full = _mean(arms["baseline"][its[-2]]), _mean(arms["baseline"][its[-1]])
        teachers = [v for v in arms["teacher"].values() if v is not None]
        lead = None if not teachers or full is None else sum(teachers) / len(teachers) - full
        step = None if half is None or full is None else full - half
        # the plateau is read once the rule's seeds have finished: 4 at L, 2 at L/2
        n_half, n_full = len(arms["baseline"][its[-2]]), len(arms["baseline"][its[-1]])
        if n_full < len(SEEDS) or n_half < len(CURVE[0.5]):
            plateau = f"- ({n_full}/{len(SEEDS)} seeds at L, {n_half}/{len(CURVE[0.5])} at L/2)"
        else:
            plateau = "yes" if abs(step) <= 1.5 else "no"
        out.append(
            f"| {det} | {_fmt(arms['teacher']['A'])} | {_fmt(arms['teacher']['B'])} | "
            f"{_fmt(half)} | {_fmt(full)} | {_fmt(step, True)} | {plateau} | {_fmt(lead, True)} |"
        )
    out += [
        "",
        "| detector | arm | " + " | ".join(["L/4", "L/2", "L"]) + " | AP per seed at L (teacher) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for det, arms in results.items():
        for arm in ("baseline", *METHODS):
            its = sorted(arms[arm])
            seeds = ", ".join(
                f"{a:.2f}" + (f" ({t})" if t else "") for _, a, t in arms[arm][its[-1]]
            )
            means = " | ".join(_fmt(_mean(arms[arm][i])) for i in its)
            out.append(f"| {det} | {arm} | {means} | {seeds} |")
    if rows:
        out += [
            "",
            "| comparison | seeds | gain (AP) | Welch p | Holm level | corrected interval "
            "| verdict |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
        for r in rows:
            out.append(
                f"| {r['key']} | {r['n_method']} vs {r['n_baseline']} | {r['gain']:+.2f} | "
                f"{r['p']:.3g} | {r['level']:.4f} | [{r['low']:+.2f}, {r['high']:+.2f}] | "
                f"**{r['verdict']}** |"
            )
    return "\n".join(out)


def plot(results: dict, path: str) -> None:
    """AP against student iterations, one line per arm (the mean), the seeds' range shaded;
    one panel per detector, the teachers as dashed lines."""
    import matplotlib

    from .converged import METHODS

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (det, arms) in zip(axes[0], results.items()):
        for arm in ("baseline", *METHODS):
            its = [i for i in sorted(arms[arm]) if arms[arm][i]]
            vals = [[a for _, a, _ in arms[arm][i]] for i in its]
            ax.plot(its, [sum(v) / len(v) for v in vals], "o-", label=arm)
            ax.fill_between(its, [min(v) for v in vals], [max(v) for v in vals], alpha=0.2)
        for name, value in arms["teacher"].items():
            if value is not None:
                ax.axhline(value, ls="--", lw=1, color="k")
                ax.annotate(f"teacher {name}", (ax.get_xlim()[0], value), fontsize=7)
        ax.set_xlabel("student iterations")
        ax.set_ylabel("box AP, digits_det_val")
        ax.set_title(det)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
