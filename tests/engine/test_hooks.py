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
