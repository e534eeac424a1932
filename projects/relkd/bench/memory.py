"""Peak memory of a phase of work: device memory on CUDA, process peak RSS on a CPU (the
benchmark measures each phase in a pass of its own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def reset_peak(device: torch.device) -> None:
    """Forget the peak so far: CUDA's allocator statistics, or on a CPU the process's peak
    resident memory (Linux ``/proc/self/clear_refs``; a no-op where unavailable)."""
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    import ctypes
    import gc

    gc.collect()
    try:  # glibc keeps freed heap pages resident; hand them back so that RSS is current
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:  # Linux: writing 5 resets the VmHWM of the process to its current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_mib(device: torch.device) -> float:
    """The peak since :func:`reset_peak` in MiB: ``max_memory_allocated`` on CUDA, else the
    process's peak resident memory (``VmHWM``, or ``ru_maxrss`` where that is missing)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
