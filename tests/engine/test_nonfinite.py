"""Non-finite distillation terms: raise by default; nonfinite="skip" makes no update and logs."""

import itertools

import pytest
import torch
from detectron2.config import instantiate
from detectron2.engine import HookBase, SimpleTrainer

from relkd.engine.hooks import ClipGradNorm, NonFiniteSkip

from ..conftest import DETECTORS, distill_cfg


class _Snapshot(HookBase):
    """Student weights after every step."""

    def __init__(self):
        self.after = []

    def after_step(self):
        m = self.trainer.model
        self.after.append({k: v.detach().clone() for k, v in m.named_parameters()})


def _poison_at(model, iteration):
    d = model.distillers[0]
    orig = d.compute

    def compute(inputs):
        out = orig(inputs)
        if inputs.iteration == iteration:
            out = {k: v * float("nan") for k, v in out.items()}
        return out

    d.compute = compute


@pytest.mark.parametrize("det", DETECTORS)
def test_skip_makes_no_update_and_logs(det, teacher_ckpt, digits_batch):
    torch.manual_seed(0)
    model = instantiate(distill_cfg(det, teacher_ckpt, "model.nonfinite=skip").model)
    _poison_at(model, 1)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    trainer = SimpleTrainer(model, itertools.repeat(digits_batch), opt)
    snap = _Snapshot()
    trainer.register_hooks([NonFiniteSkip(), ClipGradNorm(10.0), snap])
    trainer.train(0, 3)
    before, skipped, after = snap.after
    # iteration 1 changed nothing (no weight decay, no momentum step); iterations 0 and 2 did
    assert all(torch.equal(before[k], skipped[k]) for k in before)
    assert any(not torch.equal(skipped[k], after[k]) for k in before)
    assert all(s["step"].item() == 2 for s in opt.state.values())
    hist = trainer.storage.histories()
    assert hist["relkd/skipped_iters"].latest() == 1
    assert model.skipped_iters == 1


def test_raise_names_term_and_iteration(teacher_ckpt, digits_batch):
    model = instantiate(distill_cfg("retinanet", teacher_ckpt).model)
    _poison_at(model, 0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    trainer = SimpleTrainer(model, itertools.repeat(digits_batch), opt)
    with pytest.raises(FloatingPointError, match=r"loss_feature_mse_p3 is nan at iteration 0"):
        trainer.train(0, 1)


def test_unknown_policy_is_refused(teacher_ckpt):
    with pytest.raises(ValueError, match=r"nonfinite must be one of \('raise', 'skip'\), got 'ig"):
        instantiate(distill_cfg("retinanet", teacher_ckpt, "model.nonfinite=ignore").model)


def _poison_from(model, first):
    d = model.distillers[0]
    orig = d.compute

    def compute(inputs):
        out = orig(inputs)
        return {k: v * float("nan") for k, v in out.items()} if inputs.iteration >= first else out

    d.compute = compute


def test_skip_stops_after_too_many_in_a_row_naming_the_terms(teacher_ckpt, digits_batch):
    # a broken input used to skip every iteration and end as a finished run
    cfg = distill_cfg("retinanet", teacher_ckpt, "model.nonfinite=skip")
    cfg.model.max_consecutive_skips = 2
    model = instantiate(cfg.model)
    _poison_from(model, 1)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    trainer = SimpleTrainer(model, itertools.repeat(digits_batch), opt)
    trainer.register_hooks([NonFiniteSkip()])
    with pytest.raises(
        FloatingPointError,
        match=r"3 iterations in a row up to iteration 3 had non-finite losses "
        r"\(loss_feature_mse_p3, .*\); nonfinite='skip' stops after max_consecutive_skips=2",
    ):
        trainer.train(0, 10)
    assert model.skipped_iters == 3  # iterations 1, 2 and 3


def test_a_finite_iteration_resets_the_count(teacher_ckpt, digits_batch):
    cfg = distill_cfg("retinanet", teacher_ckpt, "model.nonfinite=skip")
    cfg.model.max_consecutive_skips = 1
    model = instantiate(cfg.model)
    d = model.distillers[0]
    orig = d.compute
    d.compute = lambda inputs: (
        {k: v * float("nan") for k, v in orig(inputs).items()}
        if inputs.iteration % 2
        else orig(inputs)
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    trainer = SimpleTrainer(model, itertools.repeat(digits_batch), opt)
    trainer.register_hooks([NonFiniteSkip()])
    trainer.train(0, 6)  # every other iteration skipped: never two in a row
    assert model.skipped_iters == 3


@pytest.mark.parametrize(
    "value, message", [(-1, "must be >= 0, got -1"), ("3", "must be a whole number, got .3.")]
)
def test_max_consecutive_skips_is_checked(teacher_ckpt, value, message):
    cfg = distill_cfg("retinanet", teacher_ckpt)
    cfg.model.max_consecutive_skips = value
    with pytest.raises(ValueError, match=f"max_consecutive_skips {message}"):
        instantiate(cfg.model)
