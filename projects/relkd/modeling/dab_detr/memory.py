"""``EncoderOutput``: what DAB-DETR's encoder hands its decoder (and KD-DETR's decoder passes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class EncoderOutput:
    """What :meth:`DABDETR.encode` returns and :meth:`DABDETR.decode` consumes.

    Attributes:
        memory: ``(B, S, d)`` encoder output, ``S = H * W`` of the feature map.
        pos: ``(B, S, d)`` positional embedding of the memory.
        pad_mask: ``(B, S)`` bool, True on padding, or None when no image is padded.
    """

    memory: torch.Tensor
    pos: torch.Tensor
    pad_mask: torch.Tensor | None
    cache: dict = field(default_factory=dict)  # the decoder's memory-side projections
