"""Pinned loss values: every distilled digits config, built in-process with seeded random
weights (the teacher's: the ``teacher_ckpt`` fixture), on the same two real images, gives the
loss values recorded in ``pinned_losses.json``. A refactoring that changes any computation
changes a value here.

When a change of values is intended, run
``RELKD_UPDATE_PINNED=1 python -m pytest tests/meta_arch/test_pinned_losses.py`` and commit the
file; the failure message prints the new values either way.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

from ..conftest import NO_PREFLIGHT, load_cfg, teacher_of
from .test_distill_models import DISTILLED

PINNED = os.path.join(os.path.dirname(__file__), "pinned_losses.json")
UPDATE = os.environ.get("RELKD_UPDATE_PINNED") == "1"
# the same computation with another thread count or CPU sums in another order: 1 and 2
# threads differ by up to 2.4e-6 relative (KD-DETR's L1 term); other CPUs' kernels may add
# more. An edit to what is computed (a factor, a normalisation, a mask, a matching) moves a
# value by far more than 1e-3.
RTOL = 1e-3


def losses_of(name: str, teacher: str, batch: list[dict]) -> dict[str, float]:
    cfg = load_cfg(f"digits/{name}", f"model.teacher.weights={teacher}", NO_PREFLIGHT)
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    with EventStorage(10_000):  # past every warm-up
        losses = model(batch)
    return {k: v.item() for k, v in sorted(losses.items())}


def test_pinned_losses(teacher_ckpt, batch_of):
    with open(PINNED) as f:
        pinned = json.load(f)
    got = {
        name: losses_of(name, teacher_ckpt[teacher_of(name)], batch_of(name)) for name in DISTILLED
    }
    if UPDATE:
        with open(PINNED, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
            f.write("\n")
        pytest.skip(f"{PINNED} rewritten")
    changed = {
        name: values
        for name, values in got.items()
        if pinned.get(name, {}).keys() != values.keys()
        or any(
            not torch.isclose(torch.tensor(v), torch.tensor(pinned[name][k]), rtol=RTOL, atol=0)
            for k, v in values.items()
        )
    }
    assert not changed, "loss values changed; new values:\n" + json.dumps(changed, indent=1)
