"""The guarded optimizer: clipping and non-finite steps, on hand-computed values."""

import logging

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.model_zoo import get_config
from detectron2.utils.events import EventStorage

from relkd.engine.optim import build_guarded, guard_optimizer, guarded


def _linear():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -1.0]]))
    return model


def _backward(model, x):
    model.zero_grad()
    model(x).sum().backward()


def test_clips_to_the_norm_and_logs_the_norm_before_clipping():
    model = _linear()
    opt = guard_optimizer(torch.optim.SGD(model.parameters(), lr=0.1), clip_grad_norm=1.0)
    # d(sum(w.x))/dw = x = (3, 4): norm 5, clipped to (0.6, 0.8)
    _backward(model, torch.tensor([[3.0, 4.0]]))
    with EventStorage(7) as storage:
        opt.step()
    assert torch.allclose(model.weight, torch.tensor([[1.0 - 0.06, -1.0 - 0.08]]))
    assert storage.history("grad_norm").latest() == pytest.approx(5.0)


def test_below_the_norm_nothing_is_clipped():
    model = _linear()
    opt = guard_optimizer(torch.optim.SGD(model.parameters(), lr=0.1), clip_grad_norm=10.0)
    _backward(model, torch.tensor([[3.0, 4.0]]))
    opt.step()
    assert torch.allclose(model.weight, torch.tensor([[1.0 - 0.3, -1.0 - 0.4]]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_gradient_changes_nothing_and_is_logged(bad, caplog):
    model = _linear()
    opt = guard_optimizer(
        torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.5), clip_grad_norm=None
    )
    _backward(model, torch.tensor([[3.0, bad]]))
    before = model.weight.detach().clone()
    with EventStorage(3) as storage, caplog.at_level(logging.WARNING, logger="relkd"):
        opt.step()
    # AdamW would have applied weight decay and created its moments even for a zero gradient
    assert torch.equal(model.weight, before) and opt.state_dict()["state"] == {}
    assert opt.skipped_steps == 1
    assert storage.history("relkd/skipped_steps").latest() == 1
    assert "Iteration 3: the gradient norm is" in caplog.text and "skipped" in caplog.text
    _backward(model, torch.tensor([[3.0, 4.0]]))  # the next finite step goes through
    opt.step()
    assert not torch.equal(model.weight, before) and opt.skipped_steps == 1


def test_marks_its_parameters_and_refuses_to_guard_twice():
    model = _linear()
    opt = guard_optimizer(torch.optim.SGD(model.parameters(), lr=0.1))
    assert model.weight._relkd_guarded
    assert type(opt).__name__ == "GuardedSGD" and isinstance(opt, torch.optim.SGD)
    with pytest.raises(ValueError, match="GuardedSGD is guarded already"):
        guard_optimizer(opt)


@pytest.mark.parametrize("clip", [0, -1.0, float("inf"), "10", True])
def test_bad_clip_values_are_named(clip):
    with pytest.raises(ValueError, match=f"clip_grad_norm must be a finite number > 0.*{clip!r}"):
        guard_optimizer(torch.optim.SGD(_linear().parameters(), lr=0.1), clip_grad_norm=clip)


def test_build_guarded_needs_an_optimizer_class():
    with pytest.raises(TypeError, match="optimizer_class must name a torch optimizer"):
        build_guarded("torch.nn.Linear", params=_linear().parameters())


def test_the_config_node_keeps_params_for_stock_scripts_and_survives_save(tmp_path):
    node = get_config("common/optim.py").AdamW
    node.lr = 1e-3
    cfg = LazyConfig.load(_write(tmp_path))
    cfg.optimizer = guarded(node, clip_grad_norm=2.0)
    LazyConfig.save(cfg, str(tmp_path / "saved.yaml"))
    cfg = LazyConfig.load(str(tmp_path / "saved.yaml"))
    model = _linear()
    cfg.optimizer.params.model = model  # what detectron2's lazyconfig_train_net.py does
    opt = instantiate(cfg.optimizer)
    assert type(opt).__name__ == "GuardedAdamW" and opt.relkd_clip_grad_norm == 2.0
    assert opt.param_groups[0]["lr"] == 1e-3


def _write(tmp_path) -> str:
    path = tmp_path / "cfg.py"
    path.write_text("x = 1\n")
    return str(path)


def test_a_fused_optimizer_under_grad_scaler_clips_the_unscaled_gradients():
    # GradScaler hands a fused optimizer the scaled gradients and the scale (optimizer.grad_scale);
    # the guard must unscale before clipping. Both runs: AdamW, clip 1, gradient (3, 4) of norm 5.
    x = torch.tensor([[3.0, 4.0]])
    plain = _linear()
    ref = guard_optimizer(torch.optim.AdamW(plain.parameters(), lr=0.1), clip_grad_norm=1.0)
    _backward(plain, x)
    with EventStorage(0):
        ref.step()
    fused = _linear()
    opt = guard_optimizer(
        torch.optim.AdamW(fused.parameters(), lr=0.1, fused=True), clip_grad_norm=1.0
    )
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    fused.zero_grad()
    scaler.scale(fused(x).sum()).backward()
    assert torch.equal(fused.weight.grad, 1024 * x)  # scaled: the scaler left them to the kernel
    with EventStorage(0) as storage:
        scaler.step(opt)
    scaler.update()
    assert storage.history("grad_norm").latest() == pytest.approx(5.0)  # not 5 * 1024
    # a power-of-two scale unscales exactly; fused and for-loop AdamW agree to rounding
    torch.testing.assert_close(fused.weight, plain.weight, rtol=0, atol=1e-6)
    assert not torch.equal(fused.weight, _linear().weight) and scaler.get_scale() == 1024.0


class _NoFusedSGD(torch.optim.SGD):
    """An optimizer class without a ``fused`` argument."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)


class _FusedOnlyOnCudaAdamW(torch.optim.AdamW):
    """AdamW as a torch without a CPU kernel builds it: ``fused=True`` refused on CPU."""

    def __init__(self, params, fused=None, **kwargs):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be on ['cuda']")
        super().__init__(params, **kwargs)


def test_fused_auto_takes_the_fused_kernel_and_updates_as_the_loop_does():
    # this torch has a CPU AdamW kernel: "auto" builds it; from a generator of parameters too.
    # One step of gradient (3, 4), lr 0.1: both move each weight by -lr * sign(g) (Adam's first
    # step), the fused kernel to rounding of the for-loop
    x = torch.tensor([[3.0, 4.0]])
    plain, fused = _linear(), _linear()
    ref = build_guarded("torch.optim.AdamW", params=plain.parameters(), lr=0.1, weight_decay=0.0)
    opt = build_guarded(
        torch.optim.AdamW, params=fused.parameters(), lr=0.1, weight_decay=0.0, fused="auto"
    )
    assert opt.param_groups[0]["fused"] is True and ref.param_groups[0]["fused"] is None
    for model, o in ((plain, ref), (fused, opt)):
        _backward(model, x)
        with EventStorage(0):
            o.step()
    torch.testing.assert_close(fused.weight, plain.weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(plain.weight, torch.tensor([[0.9, -1.1]]), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "cls, reason",
    [(_NoFusedSGD, "unexpected keyword argument 'fused'"), (_FusedOnlyOnCudaAdamW, "'cuda'")],
)
def test_fused_auto_falls_back_to_the_class_update_and_says_why(cls, reason, caplog):
    model = _linear()
    with caplog.at_level(logging.INFO, logger="relkd"):
        opt = build_guarded(cls, params=model.parameters(), lr=0.1, fused="auto")
    assert type(opt).__mro__[1] is cls and not opt.param_groups[0].get("fused")
    assert len(opt.param_groups[0]["params"]) == 1  # the parameters survived the first try
    assert f"fused='auto': {cls.__name__}'s own update is used" in caplog.text
    assert reason in caplog.text


def test_fused_auto_keeps_other_errors_and_refuses_other_words():
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        build_guarded(torch.optim.AdamW, params=_linear().parameters(), lr=-1.0, fused="auto")
    with pytest.raises(ValueError, match="fused must be True, False, None or 'auto', got 'yes'"):
        build_guarded(torch.optim.AdamW, params=_linear().parameters(), lr=0.1, fused="yes")
