"""``loss_weight="auto"`` with ``auto_track``: a window every K iterations sets the weight again
from that window's norms alone, while the terms keep the weight they have
(relkd.distillers.auto_weight)."""

import copy

import pytest
import torch
from detectron2.utils.events import EventStorage

from relkd.distillers.auto_weight import MAX_WINDOWS
from relkd.distillers.base import AUTO_TARGET_RATIO

from .test_auto_weight import FGFI, _model, _norm, _step, _without_boxes

TRACK = ("model.distillers.0.auto_window=1", "+model.distillers.0.auto_track=2")


def _expected_weight(model, batch, iteration: int) -> float:
    """target_ratio x the detection losses' gradient norm on the student / the unweighted
    terms' on the student and the distiller's own parameters, measured on a copy of ``model``
    with a numeric weight of 1 at ``iteration``."""
    ref = copy.deepcopy(model)
    (d,) = ref.distillers
    d.auto, d.loss_weight = None, 1.0
    with EventStorage(iteration):
        losses = ref(batch)
    own = set(d.loss_keys())
    student = [p for n, p in ref.named_parameters() if not n.startswith("distillers.")]
    det = _norm(
        torch.autograd.grad(
            sum(v for k, v in losses.items() if k not in own),
            student,
            retain_graph=True,
            allow_unused=True,
        )
    )
    terms = sum(losses[k] for k in own)
    kd = _norm(torch.autograd.grad(terms, student + list(d.parameters()), allow_unused=True))
    return AUTO_TARGET_RATIO * det / kd


def test_each_window_sets_the_weight_again_from_its_own_norms(teacher_ckpt, digits_batch):
    model = _model(teacher_ckpt, *TRACK)
    auto = model.distillers[0].auto
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    kd = "loss_feature_mse_"
    # iteration 0: the first window (terms weigh 0), which sets the weight
    losses = _step(model, digits_batch, 0, optimizer)
    assert auto.is_set and all(v == 0.0 for k, v in losses.items() if k.startswith(kd))
    w0 = auto.weight.item()
    # iteration 1 (1 % 2 = 1, outside every window): the terms weigh w0, nothing is measured
    expected_1 = _expected_weight(model, digits_batch, 1)
    losses = _step(model, digits_batch, 1, optimizer)
    assert auto.pending is None and auto.weight.item() == w0
    assert all(v > 0 for k, v in losses.items() if k.startswith(kd))
    # iteration 2: a window again; the terms still weigh w0 in it, and at its end the weight
    # is set from this step's norms, on the weights the optimizer left
    expected_2 = _expected_weight(model, digits_batch, 2)
    losses = _step(model, digits_batch, 2, optimizer)
    assert all(v > 0 for k, v in losses.items() if k.startswith(kd))
    w2 = auto.weight.item()
    assert w2 == pytest.approx(expected_2, rel=1e-5)
    assert w2 != pytest.approx(w0, rel=1e-3) and expected_1 != pytest.approx(expected_2, rel=1e-4)
    # the window's sums start again from zero
    assert auto.seen.item() == 0 and auto.det_sum.item() == 0.0


def test_a_frozen_weight_is_the_default(teacher_ckpt, digits_batch):
    model = _model(teacher_ckpt, "model.distillers.0.auto_window=1")
    assert model.distillers[0].auto_track == 0
    _step(model, digits_batch, 0)
    w0 = model.distillers[0].auto.weight.clone()
    for it in (2, 4):  # would be windows with auto_track=2
        _step(model, digits_batch, it)
        assert model.distillers[0].auto.pending is None
        assert torch.equal(model.distillers[0].auto.weight, w0)


def test_a_later_window_without_gradient_keeps_the_weight(teacher_ckpt, digits_batch):
    model = _model(teacher_ckpt, *TRACK, config=FGFI)
    _step(model, digits_batch, 0)
    auto = model.distillers[0].auto
    w0 = auto.weight.clone()
    assert auto.is_set and w0.item() > 0
    # FGFI sends nothing without boxes: the window at 2 keeps w0 instead of stopping the run
    _step(model, _without_boxes(digits_batch), 2)
    assert torch.equal(auto.weight, w0) and auto.seen.item() == 0


@pytest.mark.parametrize("track, words", [(-1, "auto_track.*-1"), (1, "auto_track \\(1\\)")])
def test_bad_track_periods_are_refused(teacher_ckpt, track, words):
    with pytest.raises(ValueError, match=words):
        _model(
            teacher_ckpt,
            "model.distillers.0.auto_window=2",
            f"+model.distillers.0.auto_track={track}",
        )


def test_a_first_window_that_never_measures_still_stops_the_run(teacher_ckpt, digits_batch):
    # tracking restarts the sums after each window that set the weight, not after an extension
    # of the first window: that one still counts towards MAX_WINDOWS and then stops the run
    model = _model(teacher_ckpt, *TRACK, config=FGFI)
    empty = _without_boxes(digits_batch)
    for i in range(MAX_WINDOWS - 1):
        _step(model, empty, i)
        assert not model.distillers[0].auto.is_set
    assert model.distillers[0].auto.seen.item() == MAX_WINDOWS - 1
    with pytest.raises(RuntimeError, match="fgfi: loss_weight='auto' measured no distillation"):
        _step(model, empty, MAX_WINDOWS - 1)
