"""relkd.bench.jobs: the dependency-aware pool of the tools' training runs."""

import threading

import pytest

from relkd.bench import jobs
from relkd.bench.jobs import Job, run_jobs


def test_run_jobs_reports_cycles_unknown_names_and_failures():
    with pytest.raises(ValueError, match=r"unknown jobs \['c'\]"):
        run_jobs([Job("a", print, ("c",))])
    with pytest.raises(ValueError, match=r"wait on each other: \['a', 'b'\]"):
        run_jobs([Job("a", print, "b"), Job("b", print, "a")])

    def boom(threads):
        raise RuntimeError("run failed")

    ran = []
    with pytest.raises(RuntimeError, match="run failed"):
        run_jobs([Job("a", boom), Job("b", ran.append, ("a",))])
    assert ran == []  # nothing that depends on a failed run starts


def test_slots_run_at_once_and_share_the_cores(monkeypatch):
    # two independent jobs with two slots run at the same time (each waits for the other to
    # start) and each gets half of the 4 cores; a third waits for both
    monkeypatch.setattr(jobs.os, "cpu_count", lambda: 4)
    both = threading.Barrier(2, timeout=10)
    seen = []

    def meet(threads):
        both.wait()  # raises BrokenBarrierError if the other never starts
        seen.append(threads)

    run_jobs([Job("a", meet), Job("b", meet), Job("c", seen.append, ("a", "b"))], slots=2)
    assert seen == [2, 2, 2]
    seen.clear()
    run_jobs([Job("a", seen.append), Job("b", seen.append, cost=5.0)], slots=1)
    assert seen == [None, None]  # one slot: the job's process keeps the default threads


def test_jobs_others_wait_on_start_first_then_the_costliest():
    order = []
    jobs = [
        Job("cheap", lambda th: order.append("cheap"), cost=1.0),
        Job("big", lambda th: order.append("big"), cost=9.0),
        Job("teacher", lambda th: order.append("teacher"), cost=0.5),
        Job("student", lambda th: order.append("student"), ("teacher",), cost=3.0),
    ]
    run_jobs(jobs, slots=1)
    assert order == ["teacher", "big", "student", "cheap"]
