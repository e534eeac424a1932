"""FGFI: fine-grained feature imitation near objects (Wang et al., CVPR 2019).

The student imitates the teacher's features only at locations whose anchors overlap a GT box
well (the imitation mask), through a 3x3 conv adapter. docs/methods.md, "FGFI".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers.adapters import conv_adapter
from ..losses.fgfi import imitation_loss
from ..utils.resize import match_size
from .base import Distiller, DistillInputs, Requirements
from .checks import check_range, names_list
from .masks import anchor_masks
from .registry import DISTILLER_REGISTRY


@DISTILLER_REGISTRY.register()
class FGFI(Distiller):
    """Masked feature imitation; loss key ``loss_fgfi_imitation``.

    Args:
        features: student feature names to imitate (the teacher's of the same name); they must
            be levels the student's anchors live on (RPN levels for Faster R-CNN, head levels
            for RetinaNet). ``None``: every anchor level.
        psi: mask threshold factor, ``F_k = psi * max IoU of GT k`` (code: 0.5).
        loss_weight: lambda (code: 0.01), or ``"auto"`` (:class:`Distiller`).
        warmup_iters: the loss is multiplied by 0 before this iteration (code: 400).
        per_level_max: take each GT's max IoU per level instead of over all levels.
        adapter_relu: ReLU after the adapter conv; right for post-ReLU features (``res4``), set
            ``False`` for signed FPN outputs.
        adapter_init_std: adapter weights ``normal_().fmod_(2) * std`` (code: 1e-4).
        name: loss-key prefix.
        **weighting: ``target_ratio``, ``auto_window``, ``per_term`` of :class:`Distiller`,
            read with ``loss_weight="auto"`` (FGFI's default ratio is 4, not 0.8: on digits_det
            the imitation term gained most near the ratio of the code's 0.01; docs/distillers.md).
    """

    default_target_ratio = 4.0

    def __init__(
        self,
        *,
        features: Sequence[str] | None = None,
        psi: float = 0.5,
        loss_weight: float | str = 0.01,
        warmup_iters: int = 400,
        per_level_max: bool = False,
        adapter_relu: bool = True,
        adapter_init_std: float = 1e-4,
        name: str = "fgfi",
        **weighting,
    ):
        super().__init__(loss_weight=loss_weight, warmup_iters=warmup_iters, **weighting)
        check_range("FGFI", "psi", psi, 0, 1, include_low=False)
        check_range("FGFI", "adapter_init_std", adapter_init_std, 0, include_low=False)
        self.features = names_list("FGFI", "features", features)
        self.psi = float(psi)
        self.per_level_max = per_level_max
        self.adapter_relu = adapter_relu
        self.adapter_init_std = adapter_init_std
        self.name = name
        self.adapters = nn.ModuleDict()
        self._anchor_levels: list[str] = []

    def terms(self) -> list[str]:
        """FGFI's one term, ``["imitation"]``."""
        return ["imitation"]

    def required_features(self) -> Requirements:
        """The student's anchors and its features of every anchor level (their sizes shape the
        anchor grids), the teacher's imitated features."""
        return Requirements(self._anchor_levels, self.features or [], anchors=True)

    def resolve(self, anchor_levels: list[str]) -> None:
        """Take the anchor levels, and the imitated features from them when not given; refuse
        a feature without anchors."""
        if not anchor_levels:
            raise ValueError("FGFI needs a student with anchors (an RPN or an anchor-based head)")
        self._anchor_levels = list(anchor_levels)
        if self.features is None:
            self.features = list(anchor_levels)
        off = [f for f in self.features if f not in anchor_levels]
        if off:
            raise ValueError(
                f"FGFI: feature(s) {off} carry no anchors; the student's anchors are on "
                f"{list(anchor_levels)}"
            )

    def build(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Check the strides; a 3x3 conv adapter ``C_s -> C_t`` per imitated feature."""
        self.check_strides(student_shapes, teacher_shapes, [(f, f) for f in self.features])
        for f in self.features:
            s, t = student_shapes[f], teacher_shapes[f]
            self.adapters[f] = conv_adapter(
                s.channels, t.channels, 3, relu=self.adapter_relu, init_std=self.adapter_init_std
            )

    def masks(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{feature: (B, H_l, W_l) bool}`` imitation masks from the student's anchors."""
        return anchor_masks(inputs, self.features, self.psi, self.per_level_max)

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{"imitation": ()}``: the squared error between each adapted student map
        ``(B, C_t, H_l, W_l)`` and the teacher's inside the imitation masks ``(B, H_l, W_l)``,
        over twice the masked cell count (:func:`~relkd.losses.fgfi.imitation_loss`)."""
        masks = self.masks(inputs)
        students, teachers, ms = [], [], []
        for f in self.features:
            s = self.adapters[f](inputs.student_features[f])
            students.append(s)
            teachers.append(match_size(inputs.teacher_features[f], s.shape[-2:]))
            ms.append(masks[f])
        covered = torch.stack([m.sum() for m in ms]).sum()
        self.log("mask_fraction", covered / max(sum(m.numel() for m in ms), 1))
        return {"imitation": imitation_loss(students, teachers, ms)}

    @torch.no_grad()
    def pictures(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """The imitation masks, ``{"mask/<feature>": (B, H_l, W_l)}``, 1 where imitated."""
        return {f"mask/{f}": m.float() for f, m in self.masks(inputs).items()}
