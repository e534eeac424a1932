"""ClipGradNorm: clips the global norm exactly and logs the norm before clipping."""

from types import SimpleNamespace

import pytest
import torch
from detectron2.utils.events import EventStorage

from relkd.engine.hooks import ClipGradNorm


def _trainer(grads):
    model = torch.nn.Module()
    model.a = torch.nn.Parameter(torch.zeros(2))
    model.b = torch.nn.Parameter(torch.zeros(1))
    model.frozen = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
    model.a.grad, model.b.grad = grads
    return SimpleNamespace(model=model, optimizer=None, storage=None), model


def test_clips_to_max_norm_and_logs_raw_norm():
    trainer, model = _trainer((torch.tensor([3.0, 0.0]), torch.tensor([4.0])))  # norm 5
    hook = ClipGradNorm(1.0)
    hook.trainer = trainer
    with EventStorage(0) as storage:
        trainer.storage = storage
        hook.after_backward()
        assert storage.history("grad_norm").latest() == pytest.approx(5.0)
    assert torch.allclose(model.a.grad, torch.tensor([0.6, 0.0]), atol=1e-6)
    assert torch.allclose(model.b.grad, torch.tensor([0.8]), atol=1e-6)


def test_small_gradients_unchanged():
    trainer, model = _trainer((torch.tensor([0.3, 0.0]), torch.tensor([0.4])))
    hook = ClipGradNorm(10.0)
    hook.trainer = trainer
    with EventStorage(0) as storage:
        trainer.storage = storage
        hook.after_backward()
    assert torch.equal(model.a.grad, torch.tensor([0.3, 0.0]))


def test_rejects_non_positive():
    with pytest.raises(ValueError, match="max_norm must be > 0, got 0"):
        ClipGradNorm(0)


def _stub_trainer(skipped=None):
    from types import SimpleNamespace

    from detectron2.utils.events import EventStorage

    storage = EventStorage(0)
    for i, (t, f, step) in enumerate([(10.0, 1.0, 0.1), (20.0, 2.0, 0.1), (30.0, 3.0, 0.1)]):
        storage.iter = i
        storage.put_scalar("relkd/teacher/ms", t)
        storage.put_scalar("relkd/fgfi/ms", f)
        storage.put_scalar("time", step)
    model = SimpleNamespace(skipped_iters=skipped) if skipped is not None else SimpleNamespace()
    return SimpleNamespace(storage=storage, iter=2, max_iter=3, model=model)


def test_summary_has_the_distillation_times_overhead_bound_and_skips():
    from relkd.engine.hooks import distill_times
    from relkd.engine.loop import summarize

    trainer = _stub_trainer(skipped=4)
    assert distill_times(trainer.storage) == {"teacher": 20.0, "fgfi": 2.0}
    assert distill_times(trainer.storage, window=1) == {"teacher": 30.0, "fgfi": 3.0}
    summary = summarize(trainer, {})
    assert summary["distill_ms"] == {"teacher": 20.0, "fgfi": 2.0}
    # a 100 ms step of which 22 ms are the teacher's and the distiller's forward
    assert summary["overhead_forward_only"] == pytest.approx(100 / 78)
    assert summary["skipped_iters"] == 4
    assert "skipped_iters" not in summarize(_stub_trainer(), {})  # a plain detector


def test_the_times_line_is_printed_every_period(caplog):
    import logging

    from relkd.engine.hooks import DistillTimesPrinter

    hook = DistillTimesPrinter(period=3)
    hook.trainer = _stub_trainer()
    with caplog.at_level(logging.INFO, logger="relkd"):
        hook.after_step()  # iteration 2: the third, a period's end
        hook.trainer.iter, hook.trainer.max_iter = 3, 10
        hook.after_step()  # the fourth: nothing
    assert [r.getMessage() for r in caplog.records] == [
        "iter 2: distillation forward times fgfi 2 ms, teacher 20 ms"
    ]
