"""Run ``train_net.py`` as a user would, from the tools, and read back its ``summary.json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def load_summary(out: str) -> dict:
    """The ``summary.json`` a training run wrote into ``out``."""
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def train_run(config: str, out: str, overrides: list[str], tag: str = "relkd") -> dict:
    """Train ``config`` into ``out`` through ``train_net.py`` and return its summary.

    Args:
        config: config path, relative to the repository root or absolute.
        out: output directory (``train.output_dir``).
        overrides: further ``key=value`` overrides.
        tag: prefix of the progress lines printed.
    """
    cmd = [
        sys.executable,
        os.path.join(REPO, "train_net.py"),
        "--config-file",
        config,
        f"train.output_dir={out}",
        *overrides,
    ]
    print(f"\n[{tag}] $ {' '.join(cmd[1:])}", flush=True)
    t0 = time.time()
    subprocess.run(cmd, cwd=REPO, check=True)
    print(f"[{tag}] finished in {time.time() - t0:.0f} s", flush=True)
    return load_summary(out)
