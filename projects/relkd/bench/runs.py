"""Run ``train_net.py`` as a user would, from the tools, and read back its ``summary.json``.

The tools run from the repository checkout, where relkd is installed in place (``make setup``):
the runs are its ``train_net.py``, and relative config paths are the checkout's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

# this file is <repo>/projects/relkd/bench/runs.py
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def load_summary(out: str) -> dict:
    """The ``summary.json`` a training run wrote into ``out``."""
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


# LazyConfig.load swaps builtins.__import__ while it runs: one load at a time in this process
_LOAD_LOCK = threading.Lock()


def config_path(config: str) -> str:
    """``config`` if absolute, else relative to the repository root."""
    return config if os.path.isabs(config) else os.path.join(REPO, config)


def load_config(config: str):
    """``LazyConfig.load`` of ``config`` (see :func:`config_path`), safe to call from several
    threads."""
    from detectron2.config import LazyConfig

    with _LOAD_LOCK:
        return LazyConfig.load(config_path(config))


def model_difference(out: str, config: str, overrides: list[str]) -> str | None:
    """The first ``model.*`` key whose value differs between the run in ``out`` (its saved
    ``config.yaml``) and ``config`` with ``overrides``; ``None`` when the models are the same.

    Both sides go through ``LazyConfig.save`` and ``load``, so class targets compare as the
    names a saved config holds. A missing ``config.yaml`` reads as a difference (``"config.yaml"``).
    Safe to call from several threads.
    """
    import tempfile

    from detectron2.config import LazyConfig
    from omegaconf import OmegaConf

    saved = os.path.join(out, "config.yaml")
    if not os.path.isfile(saved):
        return "config.yaml"
    with _LOAD_LOCK, tempfile.TemporaryDirectory() as tmp:
        cfg = LazyConfig.apply_overrides(LazyConfig.load(config_path(config)), list(overrides))
        LazyConfig.save(cfg, os.path.join(tmp, "config.yaml"))
        want = LazyConfig.load(os.path.join(tmp, "config.yaml")).model
        have = LazyConfig.load(saved).model
    want, have = _flat(OmegaConf.to_container(want)), _flat(OmegaConf.to_container(have))
    keys = sorted(set(want) | set(have))
    return next((f"model.{k}" for k in keys if not _same(want.get(k), have.get(k))), None)


def warmup_overrides(config: str, iters: int) -> list[str]:
    """Scale each distiller's ``warmup_iters`` with the schedule, as the learning-rate schedule
    follows ``train.max_iter``: FGFI's 400 of 1,000 iterations become 160 of 400, not all 400."""
    cfg = load_config(config)
    factor = iters / int(cfg.train.max_iter)
    out = []
    for i, node in enumerate(cfg.model.get("distillers") or []):
        warm = int(node.get("warmup_iters", 0) or 0)
        if warm and factor != 1:
            out.append(f"model.distillers.{i}.warmup_iters={round(warm * factor)}")
    return out


def is_cached(out: str, iters: int, config: str, overrides: list[str], tag: str = "relkd") -> bool:
    """Whether ``out`` holds a finished run of ``iters`` iterations whose model is the one
    ``config`` with ``overrides`` builds now (a changed weight or argument means a rerun; the
    reason is printed, prefixed with ``tag``)."""
    path = os.path.join(out, "summary.json")
    if not (os.path.isfile(path) and os.path.isfile(os.path.join(out, "model_final.pth"))):
        return False
    if load_summary(out).get("iterations") != iters:
        return False
    changed = model_difference(out, config, overrides)
    if changed:
        print(f"[{tag}] {out}: {changed} differs from {config}; training it again", flush=True)
    return changed is None


def _same(a, b) -> bool:
    """Equal values, or two paths of one existing file (a teacher's checkpoint reached through
    a link or from another directory is the same teacher)."""
    if a == b:
        return True
    if not (isinstance(a, str) and isinstance(b, str) and os.path.isfile(a) and os.path.isfile(b)):
        return False
    return os.path.samefile(a, b)


def _flat(node, prefix: str = "") -> dict:
    """``{"a.b.0": leaf}`` for nested dicts and lists."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return {prefix: node}
    out = {}
    for k, v in items:
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def train_run(
    config: str,
    out: str,
    overrides: list[str],
    tag: str = "relkd",
    threads: int | None = None,
    cpu: int | None = None,
    resume: bool = False,
) -> dict:
    """Train ``config`` into ``out`` through ``train_net.py`` and return its summary.

    Args:
        config: config path, relative to the repository root or absolute.
        out: output directory (``train.output_dir``).
        overrides: further ``key=value`` overrides.
        tag: prefix of the progress lines printed.
        threads: if given, the run's torch threads (``OMP_NUM_THREADS``), and its console
            output goes to ``out/stdout.txt`` instead of this process's, so that several runs
            can share the machine.
        cpu: if given, the run is pinned to that core (``taskset -c``).
        resume: continue the run's last checkpoint in ``out`` (``--resume``) when there is one.
    """
    cmd = [
        *(["taskset", "-c", str(cpu)] if cpu is not None else []),
        sys.executable,
        os.path.join(REPO, "train_net.py"),
        "--config-file",
        config,
        f"train.output_dir={out}",
        *overrides,
    ]
    if resume and os.path.isfile(os.path.join(out, "last_checkpoint")):
        cmd.insert(cmd.index("--config-file"), "--resume")
    # one write per line (print writes the text and its newline separately): runs started from
    # several threads do not interleave their lines
    print(f"\n[{tag}] $ {' '.join(cmd[cmd.index(sys.executable) + 1 :])}\n", end="", flush=True)
    t0 = time.time()
    if threads is None:
        subprocess.run(cmd, cwd=REPO, check=True)
    else:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        os.makedirs(out, exist_ok=True)
        log = os.path.join(out, "stdout.txt")
        with open(log, "a" if resume else "w") as f:
            proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"[{tag}] {config} failed (exit {proc.returncode}); see {log}")
    print(f"[{tag}] {out} finished in {time.time() - t0:.0f} s\n", end="", flush=True)
    return load_summary(out)
