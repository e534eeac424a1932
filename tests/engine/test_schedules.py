"""The digits configs' learning-rate multiplier, at full length and at the shortest runs."""

import pytest

from relkd.engine.schedules import multistep_with_warmup


def test_steps_and_warmup_at_the_configs_length():
    sched = multistep_with_warmup(1000, warmup_iters=200, warmup_factor=0.001)
    assert sched(0.0) == pytest.approx(0.001)
    # linear warm-up: halfway through its 200 iterations, halfway from 0.001 to 1
    assert sched(0.1) == pytest.approx(0.001 + 0.5 * 0.999)
    assert sched(0.5) == 1.0
    assert sched(0.8) == pytest.approx(0.1)  # after the step at 75%
    assert sched(0.95) == pytest.approx(0.01)  # after the step at 90%


@pytest.mark.parametrize("max_iter", [1, 2, 3])
def test_runs_shorter_than_the_steps_get_a_warmup_over_the_whole_run(max_iter):
    # max_iter=1 raised "where in ParamScheduler must be in [0, 1]: got 1.0" at construction
    sched = multistep_with_warmup(max_iter, warmup_iters=200, warmup_factor=0.001)
    assert sched(0.0) == pytest.approx(0.001)
    # detectron2's LRMultiplier asks for iteration / max_iter up to 1.0 inclusive
    values = [sched(i / max_iter) for i in range(max_iter + 1)]
    assert values == sorted(values) and values[-1] <= 1.0


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="max_iter must be > 0, got 0"):
        multistep_with_warmup(0)
    with pytest.raises(ValueError, match=r"steps must increase within \(0, 1\), got \(0.9, 0.5\)"):
        multistep_with_warmup(100, steps=(0.9, 0.5))
