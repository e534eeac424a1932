"""HGD-R: all-stage hands-on guidance with micro and macro re-weighting.

A *reconstruction* of HGD (Qin et al., ICME 2021) from its abstract alone (docs/methods.md,
"HGD-R"): none of the choices below comes from the paper, every one is a constructor argument,
and logs and tables call the method HGD-R. Loss keys are ``loss_hgd_<stage>``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from detectron2.utils import comm
from torch import nn

from ..layers.adapters import conv_adapter
from ..losses.hgd import (
    MEASURES,
    balanced_weights,
    channel_standardize,
    imitation_map,
    reweighted_stage_loss,
)
from ..losses.masks import box_foreground_mask
from ..utils.resize import match_size
from .base import Distiller, DistillInputs, Requirements
from .checks import check_choice, check_nonnegative, check_range, names_list
from .masks import anchor_masks
from .registry import DISTILLER_REGISTRY

logger = logging.getLogger(__name__)

NORMS = ("none", "channel_std")
MICROS = ("box", "fgfi")
MACROS = ("balanced", "fixed")


@DISTILLER_REGISTRY.register()
class HGD(Distiller):
    """HGD-R over backbone stages (and optionally FPN levels), paired by name and stride.

    Args:
        levels: feature names distilled, each present in student and teacher with the same
            stride (``res2``..``res5``, optionally ``p2``..``p6``). Every computed ResNet stage
            is available, also one the FPN does not consume (``res2`` of a COCO RetinaNet).
        norm: ``"none"`` or ``"channel_std"`` (standardise both maps per channel over H, W).
        measure: ``"l2"`` (channel-mean squared error) or ``"smooth_l1"``.
        micro: foreground mask ``"box"`` (cells whose centre is inside a GT box) or ``"fgfi"``
            (FGFI's near-object mask from the student's anchors of the same stride).
        alpha: foreground weight. beta: background weight.
        macro: ``"balanced"`` (detached weights from running averages of the stage losses, so
            each stage contributes about equally) or ``"fixed"`` (``stage_weights``).
        stage_weights: one weight per level for ``macro="fixed"``.
        ema_momentum: running-average momentum for ``macro="balanced"``.
        psi: FGFI threshold for ``micro="fgfi"``.
        loss_weight: gamma, the global weight (no paper value; tune on a short schedule).
        warmup_iters: terms are 0 before this iteration.
        name: loss-key prefix.
        **weighting: ``target_ratio``, ``auto_window``, ``per_term`` of :class:`Distiller`,
            read with ``loss_weight="auto"`` (HGD-R's default ratio is 0.1, not 0.8: on
            digits_det it matched the hand weights on both CNN detectors, where 0.8 fell below
            them on Faster R-CNN; docs/distillers.md).
    """

    default_target_ratio = 0.1

    def __init__(
        self,
        *,
        levels: Sequence[str] = ("res2", "res3", "res4", "res5"),
        norm: str = "none",
        measure: str = "l2",
        micro: str = "box",
        alpha: float = 1.0,
        beta: float = 0.5,
        macro: str = "balanced",
        stage_weights: Sequence[float] | None = None,
        ema_momentum: float = 0.99,
        psi: float = 0.5,
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        name: str = "hgd",
        **weighting,
    ):
        super().__init__(loss_weight=loss_weight, warmup_iters=warmup_iters, **weighting)
        self.levels = names_list("HGD", "levels", levels)
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise ValueError(f"HGD: levels must be non-empty and distinct, got {self.levels}")
        check_choice("HGD", "norm", norm, NORMS)
        check_choice("HGD", "measure", measure, MEASURES)
        check_choice("HGD", "micro", micro, MICROS)
        check_choice("HGD", "macro", macro, MACROS)
        check_nonnegative("HGD", alpha=alpha, beta=beta)
        check_range("HGD", "ema_momentum", ema_momentum, 0, 1, include_high=False)
        check_range("HGD", "psi", psi, 0, 1, include_low=False)
        if macro == "fixed":
            if stage_weights is None or len(stage_weights) != len(self.levels):
                raise ValueError(
                    f"HGD: macro='fixed' needs one stage weight per level {self.levels}, got "
                    f"{stage_weights}"
                )
            for i, w in enumerate(stage_weights):
                check_range("HGD", f"stage_weights[{i}]", w, 0)
        elif stage_weights is not None:
            raise ValueError("HGD: stage_weights is only used with macro='fixed'")
        self.norm, self.measure, self.micro, self.macro = norm, measure, micro, macro
        self.alpha, self.beta = float(alpha), float(beta)
        self.ema_momentum = float(ema_momentum)
        self.psi = float(psi)
        self.name = name
        fixed = stage_weights if stage_weights is not None else [1.0] * len(self.levels)
        self.register_buffer("fixed_weights", torch.tensor(fixed, dtype=torch.float32))
        # running stage losses (balanced mode); saved in checkpoints so resume keeps them
        self.register_buffer("running", torch.zeros(len(self.levels)))
        self.register_buffer("running_ready", torch.zeros((), dtype=torch.bool))
        self.adapters = nn.ModuleDict()
        self._anchor_levels: list[str] = []
        self._anchor_of: dict[str, str] = {}

    def terms(self) -> list[str]:
        """One term per distilled level, named after it."""
        return list(self.levels)

    def required_features(self) -> Requirements:
        """The distilled levels on both sides; with ``micro="fgfi"``, also the student's anchors
        and its anchor levels."""
        student = list(self.levels) + [a for a in self._anchor_levels if a not in self.levels]
        return Requirements(student, self.levels, anchors=self.micro == "fgfi")

    def resolve(self, anchor_levels: list[str]) -> None:
        """With ``micro="fgfi"``, take the student's anchor levels (refused when it has none)."""
        if self.micro == "fgfi":
            if not anchor_levels:
                raise ValueError("HGD: micro='fgfi' needs a student with anchors")
            self._anchor_levels = list(anchor_levels)

    def build(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Check the strides, pair each level with the anchor level of its stride
        (``micro="fgfi"``) and build a 1x1 conv + BN adapter ``C_s -> C_t`` per level."""
        self.check_strides(student_shapes, teacher_shapes, [(lv, lv) for lv in self.levels])
        self.strides = {lv: student_shapes[lv].stride for lv in self.levels}
        if self.micro == "fgfi":
            by_stride = {student_shapes[a].stride: a for a in self._anchor_levels}
            for lv in self.levels:
                if self.strides[lv] not in by_stride:
                    raise ValueError(
                        f"HGD: micro='fgfi' has no anchor level of stride {self.strides[lv]} for "
                        f"{lv!r}; the anchors live on {self._anchor_levels} (strides "
                        f"{sorted(by_stride)}); drop {lv!r} or use micro='box'"
                    )
                self._anchor_of[lv] = by_stride[self.strides[lv]]
        for lv in self.levels:
            cs, ct = student_shapes[lv].channels, teacher_shapes[lv].channels
            self.adapters[lv] = conv_adapter(cs, ct, 1, norm=True)
        logger.info(
            "HGD-R (a reconstruction of HGD from its abstract, not the paper's method): levels "
            f"{self.levels}, norm={self.norm}, measure={self.measure}, micro={self.micro}, "
            f"macro={self.macro}"
        )

    def foreground(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{level: (B, H, W) bool}`` foreground masks at the teacher's map size."""
        sizes = {lv: inputs.teacher_features[lv].shape[-2:] for lv in self.levels}
        if self.micro == "box":
            boxes = [inst.gt_boxes.tensor for inst in inputs.gt_instances]
            return {lv: box_foreground_mask(boxes, sizes[lv], self.strides[lv]) for lv in sizes}
        anchor = sorted(set(self._anchor_of.values()))
        near = anchor_masks(inputs, anchor, self.psi)
        return {
            lv: match_size(near[self._anchor_of[lv]][:, None].float(), sizes[lv])[:, 0] > 0
            for lv in sizes
        }

    def stage_losses(self, inputs: DistillInputs) -> torch.Tensor:
        """``(K,)`` micro-re-weighted loss of every level, before macro weights."""
        masks = self.foreground(inputs)
        out = []
        for lv in self.levels:
            t = inputs.teacher_features[lv]
            s = self.adapters[lv](inputs.student_features[lv])
            if s.shape[-2:] != t.shape[-2:]:
                s = F.interpolate(s, size=t.shape[-2:], mode="bilinear", align_corners=False)
            if self.norm == "channel_std":
                s, t = channel_standardize(s), channel_standardize(t)
            d = imitation_map(s, t, self.measure)
            out.append(reweighted_stage_loss(d, masks[lv], self.alpha, self.beta))
        return torch.stack(out)

    @torch.no_grad()
    def _update_running(self, losses: torch.Tensor) -> None:
        cur = losses.detach().float()
        if comm.get_world_size() > 1:
            # every rank uses the same macro weights
            cur = cur.clone()
            dist.all_reduce(cur)
            cur /= comm.get_world_size()
        # the first update takes the losses as they are, later ones the moving average; chosen
        # on the device, so that the host need not read the flag (a wait for the device)
        ema = torch.add(self.running * self.ema_momentum, cur, alpha=1.0 - self.ema_momentum)
        self.running.copy_(torch.where(self.running_ready, ema, cur))
        self.running_ready.fill_(True)

    def macro_weights(self, losses: torch.Tensor) -> torch.Tensor:
        """``(K,)`` detached stage weights; updates the running averages in training."""
        if self.macro == "fixed":
            return self.fixed_weights
        if self.training:
            self._update_running(losses)
        # equal weights in an evaluation before any training step
        uniform = torch.full_like(self.running, 1.0 / len(self.levels))
        return torch.where(self.running_ready, balanced_weights(self.running), uniform)

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{level: ()}``: each level's loss from :meth:`stage_losses` times its macro weight
        (:meth:`macro_weights`, also logged as ``weight_<level>``)."""
        losses = self.stage_losses(inputs)
        weights = self.macro_weights(losses).to(losses.device)
        for i, lv in enumerate(self.levels):
            self.log(f"weight_{lv}", weights[i])
        return {lv: weights[i] * losses[i] for i, lv in enumerate(self.levels)}
