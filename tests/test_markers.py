"""The ``cli`` marker of ``tests/conftest.py``: a test that starts another process, itself or
through a test helper, is marked; an in-process test is not."""

from __future__ import annotations

from .conftest import _starts_processes, run_train_net


def _helper_that_trains():
    return run_train_net("--help")


def _helper_in_process():
    return sum(range(3))


def test_direct_call_is_marked():
    def test_fn():
        return run_train_net("--help")

    assert _starts_processes(test_fn, set())


def test_call_through_a_helper_is_marked():
    def test_fn():
        return _helper_that_trains()

    assert _starts_processes(test_fn, set())


def test_call_in_a_nested_lambda_is_marked():
    def test_fn():
        return (lambda: _helper_that_trains())()

    assert _starts_processes(test_fn, set())


def test_in_process_test_is_not_marked():
    def test_fn():
        return _helper_in_process() + len("run_script")  # a string is not a call

    assert not _starts_processes(test_fn, set())
