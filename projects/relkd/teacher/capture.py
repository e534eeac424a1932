"""What a teacher hands to feature distillers: named features of its backbone (and neck), in
fp32 whatever precision its forward ran in."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..utils.features import capture_features
from .precision import to_fp32


def backbone_features(
    backbone: nn.Module, x: torch.Tensor, names: Iterable[str]
) -> dict[str, torch.Tensor]:
    """Run ``backbone`` (the teacher's, FPN included) on its input and keep ``names``.

    Args:
        backbone: the teacher's backbone.
        x: ``(B, 3, H, W)``, the teacher's input (:class:`~relkd.teacher.inputs.StudentInput`).
        names: feature names, e.g. ``("p3", "res4")``; an FPN's bottom-up stages are recorded
            on the way (:func:`relkd.utils.features.capture_features`).

    Returns:
        ``{name: (B, C, H_l, W_l)}`` in fp32 and NCHW-contiguous (a channels-last or
        half-precision forward's outputs converted).
    """
    feats = capture_features(backbone, x, list(names))
    return {k: to_fp32(v).contiguous() for k, v in feats.items()}
