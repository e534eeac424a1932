"""Counting the host's reads of tensor values in relkd code (see ``test_host_syncs.py``)."""

from __future__ import annotations

import collections
import os
import sys
from contextlib import contextmanager

import torch

import relkd

# the Tensor methods through which Python code reads a tensor's values on the host
HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy")
RELKD_DIR = os.path.dirname(relkd.__file__) + os.sep
TORCH_DIR = os.path.dirname(torch.__file__) + os.sep

# relkd's host reads in one training step: the one transfer of the distillation terms and
# diagnostics, and (DAB-DETR) the one transfer of the matching costs
DISTILL_READS = {"utils/events.py:to_host": 1}
DETR_READS = {"modeling/dab_detr/matcher.py:assign_many": 1}
# DAB-DETR's encoder reads its padding mask, built on the host from the image sizes: no device
# is waited for, but on a CPU the counter cannot tell that tensor from a device one
ENCODE = "modeling/dab_detr/detector.py:encode"


def expected_reads(detector: str) -> dict[str, int]:
    """relkd's host reads in one distillation step (forward and backward) of ``detector``;
    KD-DETR encodes with the student and the teacher."""
    return DISTILL_READS | (DETR_READS | {ENCODE: 2} if detector == "dab_detr" else {})


@contextmanager
def count_host_reads():
    """Count calls of :data:`HOST_READS` made by relkd code, by ``"<file>:<function>"``.

    A call is charged to the first caller outside torch's own Python code (``f"{t}"`` reaches
    ``.item()`` through ``torch/_tensor.py``); calls from detectron2, torchvision or the test
    are not counted.
    """
    counts: collections.Counter = collections.Counter()
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def counting(original):
        def read(self, *args, **kwargs):
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename.startswith(TORCH_DIR):
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename.startswith(RELKD_DIR):
                where = frame.f_code.co_filename[len(RELKD_DIR) :].replace(os.sep, "/")
                counts[f"{where}:{frame.f_code.co_name}"] += 1
            return original(self, *args, **kwargs)

        return read

    for name, original in originals.items():
        setattr(torch.Tensor, name, counting(original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
