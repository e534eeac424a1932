#!/usr/bin/env python
"""The gradient each distiller and the detection losses send into the student, over a run.

For every checkpoint a distilled run kept (``model_<iter>.pth``, ``model_final.pth``), the
run's own config (``config.yaml`` beside them) is built, the checkpoint loaded (student,
distillers and their ``auto`` weights), and the same training batches are run through it at
the checkpoint's iteration (so warm-ups are as they were then). Per batch, as
``tools/loss_scale.py --grads`` measures it (RetinaNet's loss normaliser taken from each batch,
since checkpoints do not hold its running mean): the norm of the detection losses' gradient on the
student's parameters, that of each distiller's weighted terms on the student and its own
modules, their ratio, and the summed loss's gradient norm over every trained parameter (what
the optimizer's clipping compares with its limit). Medians over the batches go to
``grad_ratio.json`` and ``grad_ratio.png`` (ratio against iteration) in ``--output``.

    python tools/grad_ratio.py RUN_DIR [RUN_DIR ...] --batches 4 --output output/grad_ratio

``--from-log`` reads instead what a run trained with ``grad_log_period`` logged into its
``metrics.json`` (``relkd/<name>/grad_ratio``: the weighted terms' gradient on the student's
parameters alone, on that step's batch, every ``grad_log_period`` iterations), with no model
built:

    python tools/grad_ratio.py RUN_DIR [RUN_DIR ...] --from-log --smooth 9

(``--smooth N``: a running median of N points over the faint raw ones; one step's ratio varies
several-fold from batch to batch.)
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def checkpoints(run: str) -> list[tuple[int, str]]:
    """``(iteration, path)`` of the run's checkpoints, in order; ``model_final`` counts as the
    run's last iteration (``train.max_iter - 1``)."""
    from detectron2.config import LazyConfig

    found = []
    for path in glob.glob(os.path.join(run, "model_*.pth")):
        m = re.fullmatch(r"model_(\d+)\.pth", os.path.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    final = os.path.join(run, "model_final.pth")
    if os.path.isfile(final):
        last = int(LazyConfig.load(os.path.join(run, "config.yaml")).train.max_iter) - 1
        found = [f for f in found if f[0] != last] + [(last, final)]
    return sorted(found)


def measure_run(run: str, batches: int) -> dict:
    """``{"run", "points": [{"iteration", "detection", "<distiller>", "ratio_<distiller>",
    "all"}, ...]}``: medians over ``batches`` training batches (the loader's first ones for
    seed 0, the same for every checkpoint)."""
    import itertools

    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import LazyConfig, instantiate
    from detectron2.utils.env import seed_all_rng
    from detectron2.utils.events import EventStorage

    from relkd.data import register_digits_det
    from relkd.utils.grads import grad_norm, student_parameters

    register_digits_det()
    cfg = LazyConfig.load(os.path.join(run, "config.yaml"))
    cfg.dataloader.train.num_workers = 0
    seed_all_rng(0)
    data = list(itertools.islice(instantiate(cfg.dataloader.train), batches))
    model = instantiate(cfg.model).to(cfg.train.device).train()
    model.teacher.load()
    if hasattr(model, "_ema_update"):
        # detectron2's dense detectors divide their losses by a running mean of the positive
        # anchors, which no checkpoint holds: each batch's own count instead (what the mean
        # tracks), so that a point depends on its checkpoint alone
        model._ema_update = lambda name, value, *args, **kwargs: value
    points = []
    for iteration, path in checkpoints(run):
        DetectionCheckpointer(model).load(path)
        rows = []
        for batch in data:
            with EventStorage(iteration):
                terms = model(batch)
            student = student_parameters(model)
            row, own = {}, set()
            for d in model.distillers:
                keys = [k for k in terms if k in d.loss_keys()]
                own |= set(keys)
                trained = student + [p for p in d.parameters() if p.requires_grad]
                row[d.name] = grad_norm(sum(terms[k] for k in keys), trained).item() if keys else 0
            det = sum(v for k, v in terms.items() if k not in own)
            row["detection"] = grad_norm(det, student).item()
            trained = [p for p in model.parameters() if p.requires_grad]
            row["all"] = grad_norm(sum(terms.values()), trained).item()
            rows.append(row)
            model.zero_grad(set_to_none=True)
        point = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        for d in model.distillers:
            point[f"ratio_{d.name}"] = statistics.median(
                r[d.name] / max(r["detection"], 1e-12) for r in rows
            )
        points.append({"iteration": iteration, **point})
        values = "  ".join(f"{k} {v:.4g}" for k, v in point.items())
        print(f"[grad_ratio] {run} {iteration}: {values}", flush=True)
    return {"run": run, "points": points}


def logged_run(run: str) -> dict:
    """``{"run", "points"}`` as :func:`measure_run`, from the gradient log in the run's
    ``metrics.json`` (one point per logged iteration; ``detection``, ``<name>`` and
    ``ratio_<name>`` as logged)."""
    points = {}
    with open(os.path.join(run, "metrics.json")) as f:
        for line in f:
            row = json.loads(line)
            for key, value in row.items():
                m = re.fullmatch(r"relkd/([^/]+)/grad(_ratio)?", key)
                if key == "relkd/grad/detection":
                    field = "detection"
                elif m:  # (not the auto window's relkd/<name>/auto/grad)
                    field = f"ratio_{m.group(1)}" if m.group(2) else m.group(1)
                else:
                    continue
                points.setdefault(row["iteration"], {"iteration": row["iteration"]})[field] = value
    if not points:
        raise ValueError(
            f"{run}/metrics.json has no relkd/<name>/grad_ratio: train it with "
            "model.grad_log_period=N (yacs: RELKD.GRAD_LOG_PERIOD), or leave out --from-log"
        )
    return {"run": run, "points": [points[i] for i in sorted(points)]}


def running_median(values: list[float], n: int) -> list[float]:
    """The median of each value's window of ``n`` points centred on it (cut at the ends)."""
    half = n // 2
    return [statistics.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))]


def plot(results: list[dict], path: str, smooth: int = 1) -> None:
    """The ratio of every distiller of every run against iterations, on a log scale; with
    ``smooth`` > 1 the points are faint and a running median of ``smooth`` points is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for res in results:
        ratios = sorted({k for p in res["points"] for k in p if k.startswith("ratio_")})
        for key in ratios:
            points = [p for p in res["points"] if p.get(key, 0) > 0]
            its, vals = [p["iteration"] for p in points], [p[key] for p in points]
            name = os.path.basename(res["run"].rstrip("/"))
            if smooth > 1:
                (line,) = ax.plot(its, running_median(vals, smooth), "-", label=name)
                ax.plot(its, vals, ".", color=line.get_color(), alpha=0.3)
            else:
                ax.plot(its, vals, "o-", label=name)
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel("distillation / detection gradient norm")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="+", help="run directories of distilled configs")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--output", default=os.path.join(REPO, "output", "grad_ratio"))
    p.add_argument("--from-log", action="store_true", help="read the runs' grad_log_period log")
    p.add_argument(
        "--smooth", type=int, default=1, help="draw a running median of this many points"
    )
    args = p.parse_args(argv)
    need = "metrics.json" if args.from_log else "config.yaml"
    for run in args.runs:
        if not os.path.isfile(os.path.join(run, need)):
            p.error(f"{run}: no {need} (not a train_net.py run directory)")
    if args.from_log:
        results = [logged_run(run) for run in args.runs]
    else:
        results = [measure_run(run, args.batches) for run in args.runs]
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "grad_ratio.json"), "w") as f:
        json.dump(results, f, indent=1)
    plot(results, os.path.join(args.output, "grad_ratio.png"), args.smooth)
    return results


if __name__ == "__main__":
    main()
