"""Distiller arguments typed as a user types them: each bad value is refused by name."""

import pytest

from relkd.distillers import DRKD, FGFI, HGD, FeatureMSE


@pytest.mark.parametrize(
    "kwargs, message",
    [
        # inf used to be accepted and failed at iteration 0 advising nonfinite='skip'
        ({"loss_weight": float("inf")}, "FeatureMSE: loss_weight must be a finite number, got inf"),
        ({"loss_weight": float("nan")}, "FeatureMSE: loss_weight must be a finite number, got nan"),
        # a string from `model.distillers.0.loss_weight=abc` used to raise a bare TypeError
        ({"loss_weight": "abc"}, "FeatureMSE: loss_weight must be a number, got 'abc' \\(str\\)"),
        ({"loss_weight": True}, "FeatureMSE: loss_weight must be a number, got True \\(bool\\)"),
        ({"loss_weight": -1.0}, "FeatureMSE: loss_weight must be >= 0, got -1.0"),
        ({"warmup_iters": "10"}, "FeatureMSE: warmup_iters must be a whole number, got '10'"),
        ({"warmup_iters": 2.5}, "FeatureMSE: warmup_iters must be a whole number, got 2.5"),
        ({"warmup_iters": float("inf")}, "warmup_iters must be a whole number, got inf"),
        ({"warmup_iters": True}, "warmup_iters must be a whole number, got True"),
        ({"warmup_iters": -2}, "FeatureMSE: warmup_iters must be >= 0, got -2"),
        # `student_features=p3` used to become ['p', '3']
        (
            {"student_features": "p3"},
            "student_features must be a list of feature names, got 'p3'; "
            "write \\['p3'\\] for one name",
        ),
        ({"student_features": ["p3", 4]}, "student_features must be a list of feature names"),
        ({"teacher_features": "p3"}, "teacher_features must be a list of feature names"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureMSE(**kwargs)


@pytest.mark.parametrize(
    "cls, kwargs, what",
    [
        (FGFI, {"features": "p3"}, "FGFI: features"),
        (HGD, {"levels": "res2"}, "HGD: levels"),
        (DRKD, {"pixel_levels": "p2"}, "DRKD: pixel_levels"),
        (DRKD, {"instance_levels": "p2"}, "DRKD: instance_levels"),
    ],
)
def test_every_distiller_refuses_a_bare_feature_name(cls, kwargs, what):
    with pytest.raises(ValueError, match=f"{what} must be a list of feature names"):
        cls(**kwargs)


def test_valid_values_are_kept_as_given():
    d = FeatureMSE(student_features=("p3", "p4"), loss_weight=2, warmup_iters=3.0)
    assert d.student_names == d.teacher_names == ["p3", "p4"]
    assert d.loss_weight == 2.0 and d.warmup_iters == 3
    assert DRKD(pixel_levels=None).pixel_levels is None  # resolved from the anchors at setup
