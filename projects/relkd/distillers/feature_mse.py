"""FitNets-style feature imitation: 1x1 adapter, MSE between named student/teacher features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers.adapters import conv_adapter
from ..losses.distances import masked_mse
from ..losses.masks import box_foreground_mask
from ..utils.resize import match_size
from .base import Distiller, DistillInputs, Requirements
from .checks import paired_names
from .registry import DISTILLER_REGISTRY


@DISTILLER_REGISTRY.register()
class FeatureMSE(Distiller):
    """MSE between adapted student features and teacher features, one term per feature pair.

    Loss keys: ``loss_<name>_<student feature>`` (``loss_feature_mse_p3`` ...).

    Args:
        student_features: student feature names, e.g. ``("p3", "p4")`` or ``("res4",)``.
        teacher_features: teacher feature names paired in order; defaults to the student's.
        adapter: learn a 1x1 conv ``C_s -> C_t`` (required when channels differ).
        foreground_mask: restrict the MSE to locations inside GT boxes; images without boxes
            then contribute nothing (the loss is an exact, connected 0 for such a batch).
        loss_weight: multiplier of every term.
        warmup_iters: terms are 0 before this iteration.
        name: loss-key prefix.
        **weighting: ``target_ratio``, ``auto_window``, ``per_term`` of :class:`Distiller`,
            read with ``loss_weight="auto"``.
    """

    def __init__(
        self,
        *,
        student_features: Sequence[str] = ("p3", "p4", "p5"),
        teacher_features: Sequence[str] | None = None,
        adapter: bool = True,
        foreground_mask: bool = False,
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        name: str = "feature_mse",
        **weighting,
    ):
        super().__init__(loss_weight=loss_weight, warmup_iters=warmup_iters, **weighting)
        self.student_names, self.teacher_names = paired_names(
            "FeatureMSE", student_features, teacher_features
        )
        self.use_adapter = adapter
        self.foreground_mask = foreground_mask
        self.name = name
        self.adapters = nn.ModuleDict()

    def required_features(self) -> Requirements:
        """The paired student and teacher features."""
        return Requirements(student=self.student_names, teacher=self.teacher_names)

    def terms(self) -> list[str]:
        """One term per student feature, named after it."""
        return list(self.student_names)

    def build(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Check that each pair shares its stride and build a 1x1 adapter ``C_s -> C_t`` per
        student feature (or check equal channels without adapters)."""
        pairs = list(zip(self.student_names, self.teacher_names))
        self.check_strides(student_shapes, teacher_shapes, pairs)
        for s, t in pairs:
            ss, ts = student_shapes[s], teacher_shapes[t]
            if self.use_adapter:
                self.adapters[s] = conv_adapter(ss.channels, ts.channels, 1)
            elif ss.channels != ts.channels:
                raise ValueError(
                    f"FeatureMSE: student {s!r} has {ss.channels} channels, teacher {t!r} has "
                    f"{ts.channels}; set adapter=True to learn a 1x1 adapter"
                )
        self._strides = {s: student_shapes[s].stride for s in self.student_names}

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{student feature: ()}``: the MSE between the adapted student map ``(B, C_t, H,
        W)`` and the teacher's, cropped or padded to ``(H, W)``, inside the GT boxes only with
        ``foreground_mask``."""
        out = {}
        boxes = [inst.gt_boxes.tensor for inst in inputs.gt_instances]
        for s, t in zip(self.student_names, self.teacher_names):
            fs = inputs.student_features[s]
            if self.use_adapter:
                fs = self.adapters[s](fs)
            ft = match_size(inputs.teacher_features[t], fs.shape[-2:])
            mask = None
            if self.foreground_mask:
                mask = box_foreground_mask(boxes, fs.shape[-2:], self._strides[s])
            out[s] = masked_mse(fs, ft, mask)
        return out
