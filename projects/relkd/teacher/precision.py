"""The precision and memory layout of a teacher's forward.

``dtype`` chooses the autocast the forward runs under (:func:`autocast_for`); ``channels_last`` the
layout of the convolution weights and of the input, channels-last by default exactly when the
dtype is a half one (:func:`runs_channels_last`: oneDNN's AMX kernels on a CPU and tensor cores
on a GPU want that layout). Whatever the forward ran in, what a teacher hands to distillers is
fp32 (:func:`to_fp32`).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

# Teacher(dtype=...): the autocast dtype of the teacher's forward (None: autocast off, fp32)
TEACHER_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(dtype: str | None, channels_last: bool | None) -> None:
    """Raise ``ValueError`` naming ``dtype`` or ``channels_last`` unless each is one that a
    teacher takes."""
    if dtype is not None and dtype not in TEACHER_DTYPES:
        raise ValueError(
            f"Teacher dtype must be None or one of {sorted(TEACHER_DTYPES)}, got {dtype!r}"
        )
    if channels_last is not None and not isinstance(channels_last, bool):
        raise ValueError(
            f"Teacher channels_last must be None, True or False, got {channels_last!r}"
        )


def autocast_for(dtype: str | None, device: torch.device):
    """The context of a forward in ``dtype`` on ``device``: none for ``None`` (the caller's
    precision, AMP's included), autocast off for ``"fp32"``, on with the half dtype otherwise."""
    if dtype is None:
        return contextlib.nullcontext()
    half = TEACHER_DTYPES[dtype]
    return torch.autocast(device.type, dtype=half, enabled=half is not None)


def runs_channels_last(dtype: str | None, channels_last: bool | None) -> bool:
    """Whether a teacher runs channels-last: ``channels_last``, or, when it is ``None``, whether
    ``dtype`` is a half one."""
    if channels_last is None:
        return TEACHER_DTYPES.get(dtype) is not None
    return channels_last


def weights_channels_last(model: nn.Module) -> bool | None:
    """Whether ``model``'s convolution weights are channels-last, read from the first 4-D
    parameter with more than one input channel and a kernel over one pixel (a 1x1 weight is
    NCHW and channels-last at once); ``None`` when no weight tells."""
    for p in model.parameters():
        if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] * p.shape[3] > 1:
            return p.is_contiguous(memory_format=torch.channels_last)
    return None


def set_weights_layout(model: nn.Module, channels_last: bool) -> None:
    """Put ``model``'s weights into the layout ``channels_last`` asks for, unless they are in it
    (read from the weights: a model converted by its caller is converted back)."""
    current = weights_channels_last(model)
    if current is not None and current != channels_last:
        model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def input_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """The input ``x`` (``(B, 3, H, W)``) in the layout of the weights it meets."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def to_fp32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in fp32 if an autocast forward left it in half precision, else ``x`` itself."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
