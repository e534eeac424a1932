"""The base of distillers that compare named student and teacher features level by level, one
loss term per pair, through a 1x1 alignment conv only where the channel counts differ (PKD,
CWD and MGD)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers.adapters import conv_adapter
from ..utils.resize import match_size
from .base import Distiller, DistillInputs, Requirements
from .checks import paired_names


class PairedFeatureDistiller(Distiller):
    """Student features paired in order with teacher features of the same stride; one term per
    pair, named after the student feature (``loss_<name>_<student feature>``).

    Where a pair's channel counts differ, a 1x1 conv maps the student's to the teacher's (the
    official MGD code's ``align``; PKD's and CWD's official configs pair equal widths); where
    they are equal the student's map is used as it is.

    Args:
        student_features: student feature names, e.g. ``("p3", "p4", "p5")``.
        teacher_features: teacher feature names paired in order; defaults to the student's.
        loss_weight, warmup_iters, **weighting: see :class:`Distiller`.
    """

    def __init__(
        self,
        *,
        student_features: Sequence[str],
        teacher_features: Sequence[str] | None = None,
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        **weighting,
    ):
        super().__init__(loss_weight=loss_weight, warmup_iters=warmup_iters, **weighting)
        owner = type(self).__name__
        self.student_names, self.teacher_names = paired_names(
            owner, student_features, teacher_features
        )
        if len(set(self.student_names)) != len(self.student_names):
            # the terms are named after the student features: a repeated one would share a key
            raise ValueError(f"{owner}: student_features repeats a name: {self.student_names}")
        self.align = nn.ModuleDict()

    def required_features(self) -> Requirements:
        """The paired student and teacher features."""
        return Requirements(student=self.student_names, teacher=self.teacher_names)

    def terms(self) -> list[str]:
        """One term per student feature, named after it."""
        return list(self.student_names)

    def build(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Check that each pair shares its stride; a 1x1 conv ``C_s -> C_t`` for each student
        feature whose channel count differs from its teacher's; then :meth:`build_pair`."""
        pairs = list(zip(self.student_names, self.teacher_names))
        self.check_strides(student_shapes, teacher_shapes, pairs)
        for s, t in pairs:
            cs, ct = student_shapes[s].channels, teacher_shapes[t].channels
            if cs != ct:
                self.align[s] = conv_adapter(cs, ct, 1)
            self.build_pair(s, ct)

    def build_pair(self, student_name: str, teacher_channels: int) -> None:
        """Build what one pair needs beyond the alignment (nothing by default)."""

    def aligned_pairs(self, inputs: DistillInputs) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """``[(student name, student (B, C_t, H, W), teacher (B, C_t, H, W))]``: the student's
        map through its alignment conv if it has one, the teacher's cropped or zero-padded at
        the bottom/right to the student's size (same stride, other size divisibility)."""
        out = []
        for s, t in zip(self.student_names, self.teacher_names):
            fs = inputs.student_features[s]
            if s in self.align:
                fs = self.align[s](fs)
            out.append((s, fs, match_size(inputs.teacher_features[t], fs.shape[-2:])))
        return out
