"""FGFI's near-object masks from a distiller's inputs, for the distillers that use them
(FGFI, and HGD-R's ``micro="fgfi"``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..losses.fgfi import imitation_masks
from .base import DistillInputs


def anchor_masks(
    inputs: DistillInputs, levels: Sequence[str], psi: float, per_level_max: bool = False
) -> dict[str, torch.Tensor]:
    """FGFI near-object masks ``{level: (B, H_l, W_l) bool}`` for some of the anchor levels.

    The anchors of *all* anchor levels enter each GT's max IoU, whichever levels are returned.
    """
    if inputs.anchors is None or inputs.anchor_levels is None:
        raise ValueError("near-object masks need the student's anchors (none were given)")
    grids = [
        boxes.tensor.view(*inputs.student_features[n].shape[-2:], -1, 4)
        for n, boxes in zip(inputs.anchor_levels, inputs.anchors)
    ]
    gt = [inst.gt_boxes.tensor for inst in inputs.gt_instances]
    masks = imitation_masks(grids, gt, psi, per_level_max)
    index = {n: i for i, n in enumerate(inputs.anchor_levels)}
    return {f: masks[index[f]] for f in levels}
