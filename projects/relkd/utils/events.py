"""Access to detectron2's current ``EventStorage`` without requiring one, and what relkd logs
to it without making the host wait for the device."""

from __future__ import annotations

import time

import torch


def current_storage():
    """The innermost active ``EventStorage``, or ``None`` outside a ``with EventStorage()``."""
    from detectron2.utils.events import _CURRENT_STORAGE_STACK

    return _CURRENT_STORAGE_STACK[-1] if _CURRENT_STORAGE_STACK else None


class Stopwatch:
    """Milliseconds of device work between :meth:`start` and :meth:`stop`, summed over every
    such span, measured without a host synchronisation of its own.

    On a CPU an operator has finished when its call returns, so the wall clock measures the
    work. On a GPU a call only queues the work: the wall clock would measure the launches, so
    CUDA events are recorded instead; :meth:`ms` may be read only after the host has waited
    for the device past the last :meth:`stop` (relkd reads it after the step's one transfer,
    :func:`to_host`).
    """

    def __init__(self, device: torch.device | str):
        self.cuda = torch.device(device).type == "cuda"
        self._spans: list = []
        self._start = None

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> None:
        if self._start is None:
            raise RuntimeError("Stopwatch.stop() without start()")
        self._spans.append((self._start, self._now()))
        self._start = None

    def __enter__(self) -> Stopwatch:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _now(self):
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def ms(self) -> float:
        """The summed milliseconds of every finished span (0.0 for none)."""
        if self.cuda:
            for _, end in self._spans:
                end.synchronize()  # no wait when the caller's transfer has already waited
            return float(sum(a.elapsed_time(b) for a, b in self._spans))
        return sum(b - a for a, b in self._spans) * 1e3


def to_host(values: list[torch.Tensor]) -> list[float]:
    """Every value of ``values`` (scalars, each on any device; bool ones as 0/1) as Python
    floats, through one device-to-host transfer: the one point of a distillation step where
    the host waits for the device."""
    if not values:
        return []
    device = values[0].device
    flat = torch.stack([v.detach().reshape(()).to(device, torch.float32) for v in values])
    return flat.tolist()
