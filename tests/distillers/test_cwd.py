"""CWD distiller: pairs, temperature, alignment, one training step and its argument checks."""

import pytest
import torch
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

from relkd.distillers import CWD
from relkd.losses.cwd import cwd_loss

from ..helpers import make_inputs
from .steps import assert_trains_the_student_only, level_features, level_shapes, train_one_step


def test_one_term_per_level_each_the_loss_function_times_the_weight():
    d = CWD(student_features=["p3", "p4"], tau=4.0, loss_weight=3.0)
    d.setup(level_shapes(4), level_shapes(4))
    assert len(d.align) == 0
    s, t = level_features(4, 0), level_features(4, 1)
    out = d(make_inputs(s, t, [torch.zeros(0, 4)] * 2))
    assert list(out) == ["loss_cwd_p3", "loss_cwd_p4"]
    for lv in ("p3", "p4"):
        expected = 3.0 * cwd_loss(s[lv], t[lv], 4.0).item()
        assert out[f"loss_cwd_{lv}"].item() == pytest.approx(expected)


def test_defaults_are_the_official_detection_setting():
    d = CWD()
    assert d.student_names == ["p3", "p4", "p5", "p6", "p7"]
    assert d.tau == 1.0 and d.loss_weight == 10.0 and d.warmup_iters == 0


def test_identical_features_give_zero_and_warmup_zeroes_the_terms():
    d = CWD(student_features=["p3", "p4"], warmup_iters=5)
    d.setup(level_shapes(4), level_shapes(4))
    s, t = level_features(4, 0), level_features(4, 1)
    same = d(make_inputs(s, {k: v.clone() for k, v in s.items()}, [torch.zeros(0, 4)] * 2))
    assert all(v.item() == 0.0 for v in same.values())
    early = d(make_inputs(s, t, [torch.zeros(0, 4)] * 2, iteration=4))
    assert all(v.item() == 0.0 for v in early.values())
    assert all(v.item() > 0 for v in d(make_inputs(s, t, [torch.zeros(0, 4)] * 2, 64, 5)).values())


def test_alignment_conv_where_channels_differ():
    d = CWD(student_features=["p3", "p4"])
    teacher = {"p3": ShapeSpec(channels=6, stride=8), "p4": ShapeSpec(channels=4, stride=16)}
    d.setup(level_shapes(4), teacher)
    assert list(d.align) == ["p3"] and d.align["p3"][0].weight.shape == (6, 4, 1, 1)
    t = {"p3": torch.randn(2, 6, 8, 8), "p4": torch.randn(2, 4, 4, 4)}
    out = d(make_inputs(level_features(4, 0), t, [torch.zeros(0, 4)] * 2))
    out["loss_cwd_p3"].backward()
    assert d.align["p3"][0].weight.grad.abs().sum() > 0


def test_one_training_step_in_a_distill_model(digits_batch):
    node = L(CWD)(student_features=["p2", "p3", "p4", "p5", "p6"], tau=1.0, loss_weight=1.0)
    model, losses = train_one_step(node, digits_batch, det="faster_rcnn")
    keys = [f"loss_cwd_p{i}" for i in range(2, 7)]
    assert set(keys) <= set(losses) and all(losses[k].item() > 0 for k in keys)
    # no alignment conv (equal widths): CWD trains only the student
    assert not list(model.distillers.parameters())
    assert_trains_the_student_only(model)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tau": 0}, "CWD: tau must be > 0, got 0"),
        ({"tau": -1.0}, "CWD: tau must be > 0, got -1.0"),
        ({"tau": "4"}, "CWD: tau must be a number, got '4'"),
        ({"tau": float("nan")}, "CWD: tau must be a number, got nan"),
        ({"student_features": "p3"}, "CWD: student_features must be a list of feature names"),
        ({"teacher_features": "p3"}, "CWD: teacher_features must be a list of feature names"),
        ({"loss_weight": float("inf")}, "CWD: loss_weight must be a finite number, got inf"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CWD(**kwargs)
