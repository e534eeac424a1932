"""PKD distiller: pairs, alignment, weights, one training step and its argument checks."""

import pytest
import torch
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

from relkd.distillers import PKD
from relkd.losses.pkd import pkd_loss

from ..helpers import make_inputs
from .steps import assert_trains_the_student_only, level_features, level_shapes, train_one_step


def test_one_term_per_level_each_the_loss_function_times_the_weight():
    d = PKD(student_features=["p3", "p4"], loss_weight=6.0)
    d.setup(level_shapes(4), level_shapes(4))
    assert len(d.align) == 0  # equal widths: no alignment conv, as the official configs
    s, t = level_features(4, 0), level_features(4, 1)
    out = d(make_inputs(s, t, [torch.zeros(0, 4)] * 2))
    assert list(out) == ["loss_pkd_p3", "loss_pkd_p4"]
    for lv in ("p3", "p4"):
        assert out[f"loss_pkd_{lv}"].item() == pytest.approx(6.0 * pkd_loss(s[lv], t[lv]).item())


def test_defaults_are_the_official_retinanet_setting():
    d = PKD()
    assert d.student_names == d.teacher_names == ["p3", "p4", "p5", "p6"]
    assert d.loss_weight == 10.0 and d.warmup_iters == 0
    assert d.loss_keys() == [f"loss_pkd_p{i}" for i in range(3, 7)]


def test_alignment_conv_where_channels_differ_and_teacher_names_pair_in_order():
    d = PKD(student_features=["p3", "p4"], teacher_features=["t3", "t4"])
    teacher = {"t3": ShapeSpec(channels=8, stride=8), "t4": ShapeSpec(channels=4, stride=16)}
    d.setup(level_shapes(4), teacher)
    assert list(d.align) == ["p3"] and d.align["p3"][0].weight.shape == (8, 4, 1, 1)
    s, t = level_features(4, 0), {"t3": torch.randn(2, 8, 8, 8), "t4": torch.randn(2, 4, 4, 4)}
    out = d(make_inputs(s, t, [torch.zeros(0, 4)] * 2))
    assert out["loss_pkd_p4"].item() == pytest.approx(10 * pkd_loss(s["p4"], t["t4"]).item())
    assert out["loss_pkd_p3"].item() == pytest.approx(
        10 * pkd_loss(d.align["p3"](s["p3"]), t["t3"]).item()
    )


def test_teacher_padded_more_is_cropped_to_the_student():
    d = PKD(student_features=["p3"])
    d.setup(level_shapes(3, ["p3"]), level_shapes(3, ["p3"]))
    s = torch.randn(2, 3, 4, 4)
    t = torch.full((2, 3, 6, 5), 99.0)
    t[..., :4, :4] = s * 2 + 1  # an affine map of the student: PKD's loss is ~0
    out = d(make_inputs({"p3": s}, {"p3": t}, [torch.zeros(0, 4)] * 2))
    assert out["loss_pkd_p3"].item() == pytest.approx(0.0, abs=1e-4)


def test_one_training_step_in_a_distill_model(digits_batch):
    model, losses = train_one_step(
        L(PKD)(student_features=["p2", "p3", "p4", "p5"], loss_weight=1.0), digits_batch
    )
    keys = [f"loss_pkd_p{i}" for i in range(2, 6)]
    assert set(keys) <= set(losses)
    # standardised maps: the loss lies in [0, 2] per level
    assert all(0 < losses[k].item() < 2 for k in keys), {k: losses[k].item() for k in keys}
    assert_trains_the_student_only(model)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"student_features": "p3"}, "PKD: student_features must be a list of feature names"),
        ({"student_features": []}, "PKD: student_features is empty"),
        ({"teacher_features": ["p3"]}, r"PKD: 4 student features .* but 1 teacher features"),
        ({"student_features": ["p3", "p3"]}, r"PKD: student_features repeats a name"),
        ({"loss_weight": -6}, "PKD: loss_weight must be >= 0, got -6"),
        ({"loss_weight": "six"}, "PKD: loss_weight must be a number or 'auto', got 'six'"),
        ({"warmup_iters": 1.5}, "PKD: warmup_iters must be a whole number, got 1.5"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PKD(**kwargs)


def test_setup_errors_name_the_feature():
    with pytest.raises(ValueError, match=r"PKD: the student produces no feature\(s\) \['p7'\]"):
        PKD(student_features=["p7"]).setup(level_shapes(4), level_shapes(4))
    teacher = {"p3": ShapeSpec(channels=4, stride=16)}
    with pytest.raises(ValueError, match="PKD: student 'p3' has stride 8 but teacher 'p3'"):
        PKD(student_features=["p3"]).setup(level_shapes(4), teacher)
