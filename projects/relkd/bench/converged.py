"""The comparison at convergence (``tools/quality.py --converged``; the rule it applies is
written in BENCHMARKS.md, "Distillation at convergence", and coded in
:mod:`relkd.bench.verdict`).

The testbed is ``configs/converged``: per detector two teachers (seeds 0 and 1; teacher A in
the configs' own output folder, so that the method configs name it), the baseline and each
paper method at the students' schedule L (seeds 100-103: 100 and 101 distilled from teacher A,
102 and 103 from teacher B), the learning curve at L/4 and L/2 (seeds 100 and 102), and, where
the rule leaves a (detector, method) undecided, its pre-declared extension (seed 104 from A and
105 from B, for that method and for the baseline). Every run is cached under the output root and
reused by the next invocation; an interrupted one continues from its last checkpoint. Its
tables and plot: :mod:`.converged_report`.
"""

from __future__ import annotations

import json
import os
import queue
from functools import partial

from .converged_report import plot, report  # noqa: F401 (report: the tests' entry point too)

DETECTORS = ("retinanet", "faster_rcnn")
METHODS = ("fgfi", "drkd", "hgd")
TEACHERS = {"A": 0, "B": 1}  # teacher -> its train.seed
SEEDS = {100: "A", 101: "A", 102: "B", 103: "B"}  # student seed at L -> its teacher
EXTENSION = {104: "A", 105: "B"}
CURVE = {0.25: (100, 102), 0.5: (100, 102)}  # fraction of L -> student seeds
CONFIGS = "configs/converged"


def config(det: str, arm: str) -> str:
    """The testbed config of ``arm`` (``teacher``, ``baseline`` or a method) for ``det``."""
    role = {"teacher": "R50_teacher", "baseline": "R18_student"}.get(arm, f"R18_{arm}")
    return f"{CONFIGS}/{det}_{role}.py"


def max_iter(det: str, arm: str) -> int:
    from .runs import load_config

    return int(load_config(config(det, arm)).train.max_iter)


def teacher_dir(root: str, det: str, name: str) -> str:
    """``<root>/<det>_R50_teacher`` for teacher A (the configs' ``model.teacher.weights`` with
    the default root), ``..._B`` beside it."""
    return os.path.join(root, f"{det}_R50_teacher" + ("" if name == "A" else f"_{name}"))


def student_dir(root: str, det: str, arm: str, iters: int, seed: int) -> str:
    return os.path.join(root, det, arm, f"it{iters}", f"seed{seed}")


def _train(config_file: str, out: str, overrides: list[str], cores: queue.Queue, threads) -> None:
    """Reuse, continue or train one run, pinned to a core taken from ``cores``."""
    from .runs import is_cached, train_run

    iters = int(overrides[0].split("=")[1])  # train.max_iter=N comes first
    if is_cached(out, iters, config_file, overrides, "converged"):
        print(f"[converged] reusing {out}", flush=True)
        return
    cpu = cores.get()
    try:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "commit.txt"), "a") as f:  # one line per (re)start
            f.write(commit() + "\n")
        train_run(config_file, out, overrides, "converged", threads=1, cpu=cpu, resume=True)
    finally:
        cores.put(cpu)


def commit() -> str:
    """The repository's commit, with ``-dirty`` when tracked files differ from it."""
    import subprocess

    from .runs import REPO

    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no").strip() else "")


def commits(runs: dict) -> set[str]:
    """Every commit the runs of ``runs`` were (re)started on (teachers excluded: they are the
    testbed's inputs, trained once)."""
    found = set()
    for arms in runs.values():
        for arm, points in arms.items():
            if arm == "teacher":
                continue
            for rows in points.values():
                for _, out, _ in rows:
                    path = os.path.join(out, "commit.txt")
                    if os.path.isfile(path):
                        found |= set(open(path).read().split())
    return found


def plan(
    root: str, detectors, extended: dict, cores: queue.Queue, length: int | None = None
) -> tuple[list, dict]:
    """Every job, and ``runs[det]``: ``{"teacher": {name: dir}, arm: {iters: [(seed, dir,
    teacher name or None)]}}``. ``extended``: ``{det: [method, ...]}`` whose extension seeds
    run, with the baseline's. ``length``: the students' schedule L (default: the configs'
    ``train.max_iter``); the curve's points and the warm-ups follow it, the teachers do not."""
    from .jobs import Job
    from .runs import warmup_overrides

    jobs, runs = [], {}
    for det in detectors:
        L, t_iters = length or max_iter(det, "baseline"), max_iter(det, "teacher")
        runs[det] = {"teacher": {}}
        for name, seed in TEACHERS.items():
            out = teacher_dir(root, det, name)
            runs[det]["teacher"][name] = out
            over = [f"train.max_iter={t_iters}", f"train.seed={seed}"]
            fn = partial(_train, config(det, "teacher"), out, over, cores)
            jobs.append(Job(f"{det}/teacher/{name}", fn, (), t_iters / L * 4))
        for arm in ("baseline", *METHODS):
            points = {round(L * f): {s: SEEDS[s] for s in seeds} for f, seeds in CURVE.items()}
            points[L] = dict(SEEDS)
            if extended.get(det) and (arm == "baseline" or arm in extended[det]):
                points[L].update(EXTENSION)
            runs[det][arm] = {}
            for iters, seeds in sorted(points.items()):
                runs[det][arm][iters] = []
                for seed, teacher in seeds.items():
                    out = student_dir(root, det, arm, iters, seed)
                    over = [f"train.max_iter={iters}", f"train.seed={seed}"]
                    deps = ()
                    if arm != "baseline":
                        weights = os.path.join(teacher_dir(root, det, teacher), "model_final.pth")
                        over += [f"model.teacher.weights={weights}"]
                        over += warmup_overrides(config(det, arm), iters)
                        deps = (f"{det}/teacher/{teacher}",)
                    runs[det][arm][iters].append(
                        (seed, out, None if arm == "baseline" else teacher)
                    )
                    fn = partial(_train, config(det, arm), out, over, cores)
                    jobs.append(Job(f"{det}/{arm}/{iters}/{seed}", fn, deps, iters / L))
    return jobs, runs


def ap(out: str) -> float | None:
    """The box AP of a finished run, ``None`` when it has not finished."""
    path = os.path.join(out, "summary.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f).get("results", {}).get("bbox", {}).get("AP")


def collect(runs: dict) -> dict:
    """``results[det]``: the teachers' AP and, per arm and schedule, ``[(seed, AP, teacher)]``
    of the finished runs."""
    results = {}
    for det, arms in runs.items():
        results[det] = {"teacher": {n: ap(d) for n, d in arms["teacher"].items()}}
        for arm, points in arms.items():
            if arm == "teacher":
                continue
            results[det][arm] = {
                iters: [(s, ap(d), t) for s, d, t in rows if ap(d) is not None]
                for iters, rows in points.items()
            }
    return results


def verdicts(results: dict, runs: dict) -> list[dict]:
    """The rule over the whole (detector, method) family at L; empty until every run of the
    family at L (as ``runs`` plans it) has finished: a family cut short would be corrected over
    fewer comparisons than the rule names."""
    from .verdict import Comparison, decide

    comps = []
    for det, arms in results.items():
        L = max(arms["baseline"])
        if any(len(arms[a][L]) < len(runs[det][a][L]) for a in ("baseline", *METHODS)):
            return []
        base = [a for _, a, _ in arms["baseline"][L]]
        comps += [Comparison(f"{det}/{m}", [a for _, a, _ in arms[m][L]], base) for m in METHODS]
    return decide(comps)


def main(
    root: str,
    detectors,
    extend: bool,
    cores: list[int],
    length: int | None = None,
    train: bool = True,
) -> str:
    """Run (or reuse) the testbed's runs, one per core of ``cores`` at a time, and write
    ``converged.md``, ``converged.json`` and ``converged_curve.png`` under ``root``; with
    ``extend``, once the family is complete, add the pre-declared seeds of every comparison the
    rule leaves undecided (once: the choice is saved in ``extension.json``). ``length``: the
    students' schedule L, as :func:`plan`. ``train=False`` trains nothing: the report of the
    runs finished so far (the baseline's plateau, to fix L before any method trains)."""
    from .jobs import run_jobs

    free: queue.Queue = queue.Queue()
    for c in cores:
        free.put(c)
    # the extension is decided once, on the first complete family, and kept: later invocations
    # (with or without --extend) report the extended comparisons
    decided = os.path.join(root, "extension.json")
    extended = {}
    if os.path.isfile(decided):
        with open(decided) as f:
            extended = json.load(f)
    jobs, runs = plan(root, detectors, extended, free, length)
    if train:
        run_jobs(jobs, len(cores))
    results = collect(runs)
    rows = verdicts(results, runs)
    if extend and train and rows and not os.path.isfile(decided):
        for r in rows:
            if r["verdict"] == "undecided":
                det, method = r["key"].split("/")
                extended.setdefault(det, []).append(method)
        with open(decided, "w") as f:
            json.dump(extended, f)
        if extended:
            jobs, runs = plan(root, detectors, extended, free, length)
            run_jobs(jobs, len(cores))
            results = collect(runs)
            rows = verdicts(results, runs)
    text = report(results, rows)
    used = sorted(commits(runs))
    text += f"\n\nStudents trained on commit(s): {', '.join(used) or '-'}"
    if len(used) > 1:
        text += " (more than one: the rule wants every arm on one commit)"
    with open(os.path.join(root, "converged.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(root, "converged.json"), "w") as f:
        json.dump(
            {"results": results, "verdicts": rows, "extended": extended},
            f,
            indent=1,
        )
    plot(results, os.path.join(root, "converged_curve.png"))
    return text
