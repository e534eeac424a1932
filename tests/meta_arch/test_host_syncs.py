"""The host waits for the device once per distillation step, not once per term.

On a GPU, reading a device tensor on the host (``.item()``, ``bool(t)``, ``.tolist()``,
``.cpu()``, ``.numpy()``, ``float(t)``...) blocks the Python thread until every queued kernel has
run, so the next step cannot be queued meanwhile. On this CPU nothing waits, but the same calls
are made: the tests count them, by the relkd function that makes them (``host_reads.py``);
every distilled digits config's step is counted in
``test_distill_models.py::test_every_distilled_config_trains_one_step``.

What relkd adds to a step, by design:

- one transfer in ``relkd.utils.events.to_host``: the finiteness of every distillation term and
  the distillers' diagnostics (FGFI's mask fraction, HGD-R's stage weights, KD-DETR's
  foreground weight) together; the step timers are read after it (CUDA events on a GPU);
- DAB-DETR's own loss (the student's, with or without distillation): one transfer in
  ``assign_many``, since the Hungarian matching runs on the host (scipy), for every image of
  the batch and every decoder layer at once.

DAB-DETR's ``encode`` (the student's, and the teacher's under KD-DETR) also reads a tensor: its
padding mask, which it builds on the host (CPU) from the image sizes, so no device is waited
for; the counter cannot tell a CPU tensor from a device one on this machine and lists it."""

from __future__ import annotations

import pytest
import torch
from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

from ..conftest import NO_PREFLIGHT, load_cfg
from .host_reads import DETR_READS, ENCODE, count_host_reads


def reads_of_one_step(model, batch) -> dict[str, int]:
    """relkd's host reads in one training forward and backward of ``model`` (past warm-up)."""
    with EventStorage(10_000), count_host_reads() as counts:
        losses = model(batch)
        sum(losses.values()).backward()
    return dict(counts)


def test_the_counter_sees_relkd_reads_and_ignores_others():
    from relkd.modeling.dab_detr.matcher import assign

    with count_host_reads() as counts:
        torch.ones(2).sum().item()  # the test's own read: not counted
        assign(torch.tensor([[1.0, 2.0], [3.0, 0.5]]))
    assert dict(counts) == {"modeling/dab_detr/matcher.py:assign_many": 1}


def test_a_plain_dab_detr_step_reads_the_device_once_for_matching(digits_batch):
    cfg = load_cfg("digits/dab_detr_R18_student.py")
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    assert reads_of_one_step(model, digits_batch) == DETR_READS | {ENCODE: 1}


def test_diagnostics_reach_the_storage_as_the_values_computed(teacher_ckpt, digits_batch):
    """HGD-R's stage weights, moved to the host in the step's one transfer, are the weights
    its balanced mode computes from the running stage losses of that step."""
    from relkd.losses.hgd import balanced_weights

    cfg = load_cfg(
        "digits/retinanet_R18_hgd.py",
        f"model.teacher.weights={teacher_ckpt['retinanet']}",
        NO_PREFLIGHT,
    )
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    with EventStorage(10_000) as storage:
        model(digits_batch)
    hgd = model.distillers[0]
    logged = [storage.latest()[f"relkd/{hgd.name}/weight_{lv}"][0] for lv in hgd.levels]
    assert all(type(v) is float for v in logged)
    assert torch.allclose(torch.tensor(logged), balanced_weights(hgd.running), rtol=1e-6)


def test_to_host_reads_once_and_keeps_order():
    from relkd.utils.events import to_host

    values = [torch.tensor(2.5), torch.isfinite(torch.tensor(float("nan"))), torch.ones(1) * 3]
    with count_host_reads() as counts:
        out = to_host(values)
    assert out == [2.5, 0.0, 3.0] and all(type(v) is float for v in out)
    assert dict(counts) == {"utils/events.py:to_host": 1}


def test_a_cpu_stopwatch_sums_its_spans(monkeypatch):
    from relkd.utils import events

    # a clock that reads 0, 0.02, then 0.5, 0.53 (seconds): two spans of 20 and 30 ms with
    # 480 ms between them that no span covers
    ticks = iter([0.0, 0.02, 0.5, 0.53])
    monkeypatch.setattr(events.time, "perf_counter", lambda: next(ticks))
    watch = events.Stopwatch("cpu")
    for _ in range(2):
        with watch:
            pass
    assert watch.ms() == pytest.approx(50.0)
    with pytest.raises(RuntimeError, match="without start"):
        events.Stopwatch("cpu").stop()
