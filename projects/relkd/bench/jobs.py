"""A small dependency-aware pool for the tools' training runs (``tools/quality.py``,
``tools/demo.py``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable


class Job:
    """One unit of work: ``fn(threads)`` after every job named in ``deps`` has finished.

    Args:
        key: the job's unique name, what other jobs list in their ``deps``.
        fn: called with ``threads`` (see :func:`run_jobs`); its return value is ignored.
        deps: keys of the jobs to finish first.
        cost: relative cost, to start the costliest ready job first.
    """

    def __init__(
        self,
        key: str,
        fn: Callable[[int | None], object],
        deps: Iterable[str] = (),
        cost: float = 1.0,
    ):
        self.key, self.fn, self.deps, self.cost = key, fn, set(deps), cost


def run_jobs(jobs: list[Job], slots: int = 1) -> None:
    """Run ``jobs`` respecting their dependencies, ``slots`` at a time (threads of this process;
    each job's ``fn`` is given ``threads``: ``None`` when ``slots`` is 1, else its share
    ``cpu_count // slots`` of the cores, for the process it starts). Among the ready jobs,
    those that others wait on start first, then the costliest. The first failure is re-raised
    once the running jobs have finished; no job that waits on a failed one starts."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    slots = max(1, slots)
    threads = None if slots == 1 else max(1, (os.cpu_count() or 1) // slots)
    needed = {d for job in jobs for d in job.deps}
    unknown = needed - {job.key for job in jobs}
    if unknown:
        raise ValueError(f"jobs depend on unknown jobs {sorted(unknown)}")
    pending, done, running = {job.key: job for job in jobs}, set(), {}
    with ThreadPoolExecutor(slots) as pool:
        while pending or running:
            ready = [job for job in pending.values() if job.deps <= done]
            ready.sort(key=lambda job: (job.key in needed, job.cost), reverse=True)
            for job in ready[: slots - len(running)]:
                del pending[job.key]
                running[pool.submit(job.fn, threads)] = job.key
            if not running:
                raise ValueError(f"jobs wait on each other: {sorted(pending)}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                done.add(running.pop(future))
                future.result()  # re-raises a failure
