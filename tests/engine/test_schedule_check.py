"""The start-of-run lines about each distiller's active iterations, and the warm-up warning."""

import logging
from types import SimpleNamespace

from relkd.distillers import FGFI, FeatureMSE
from relkd.distillers.base import AUTO_TARGET_RATIO
from relkd.engine.schedule_check import distiller_schedule


def test_each_distiller_says_when_it_is_active_and_a_long_warmup_warns(caplog):
    # FGFI's digits warm-up of 400 at train.max_iter=300 never distilled, with no note
    model = SimpleNamespace(
        distillers=[FGFI(loss_weight=1e-3, warmup_iters=400), FeatureMSE(warmup_iters=100)]
    )
    with caplog.at_level(logging.INFO, logger="relkd"):
        lines = distiller_schedule(model, 300)
    assert lines == [
        "Distiller fgfi (FGFI): loss_weight 0.001, never active "
        "(warmup_iters 400 >= train.max_iter 300)",
        "Distiller feature_mse (FeatureMSE): loss_weight 1, active in iterations 100-299 "
        "(200 of 300)",
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("fgfi's warm-up (400 iterations) covers")
    assert "100% of train.max_iter=300" in warnings[0]


def test_a_warmup_over_half_the_run_warns_and_under_half_does_not(caplog):
    with caplog.at_level(logging.INFO, logger="relkd"):
        distiller_schedule(SimpleNamespace(distillers=[FeatureMSE(warmup_iters=499)]), 1000)
        distiller_schedule(SimpleNamespace(distillers=[FeatureMSE(warmup_iters=501)]), 1000)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "covers 50% of train.max_iter=1000" in warnings[0]


def test_a_plain_detector_has_no_lines():
    assert distiller_schedule(SimpleNamespace(), 10) == []


def test_an_auto_weight_is_announced_with_its_window():
    model = SimpleNamespace(distillers=[FeatureMSE(loss_weight="auto", warmup_iters=10)])
    assert distiller_schedule(model, 100) == [
        "Distiller feature_mse (FeatureMSE): loss_weight auto (target_ratio "
        f"{AUTO_TARGET_RATIO:g}; measured in the 20 iterations after the warm-up, weight 0 "
        "until then), active in iterations 10-99 (90 of 100)"
    ]
    tracked = SimpleNamespace(distillers=[FeatureMSE(loss_weight="auto", auto_track=250)])
    assert "until then, measured again in the first 20 of every 250 iterations)" in (
        distiller_schedule(tracked, 1000)[0]
    )
