"""DRKD: dual relation knowledge distillation (Ni et al., IJCAI 2023), docs/methods.md, "DRKD".

Three terms on FPN features, with the official code's modules and weights:
- ``pixel``: GloRe units on every level, a student-side and a (trainable) teacher-side one,
  student output through a 1x1 adapter;
- ``relation``: GT-box RoIAlign (3x3) features on the first two levels through per-image
  instance-relation modules (relation filter on), student side through a 1x1 adapter;
- ``instance``: the RoIAlign features themselves, student side through a 1x1 adapter.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.ops import roi_align

from ..layers.adapters import conv_adapter
from ..layers.glore import GloRe
from ..layers.relation import RELATION_FILTERS, InstanceRelation
from ..losses.drkd import NORMS, feature_distance, grouped_distance
from ..utils.resize import match_size
from .base import Distiller, DistillInputs, Requirements
from .checks import check_choice, check_nonnegative, check_whole_number, names_list

DEFAULT_NODES = (64, 64, 256, 256, 256)
TEACHER_SIDES = ("trainable", "frozen")


class DRKD(Distiller):
    """Loss keys ``loss_drkd_pixel``, ``loss_drkd_relation``, ``loss_drkd_instance``.

    Args:
        pixel_levels: FPN levels for the pixel term; ``None``: the student's anchor levels
            (p2-p6 for Faster R-CNN and the digits RetinaNet, p3-p7 for a COCO RetinaNet).
        num_nodes: GloRe node count per pixel level (code: 64, 64, 256, 256, 256).
        instance_levels: levels for RoIAlign; ``None``: the first two pixel levels.
        roi_size: RoIAlign output size (code: 3).
        relation_filter: ``"code"`` (fresh random filter per call) or ``"none"``.
        norm: ``"fro"`` (code: unsquared Frobenius norm) or ``"mse"`` (paper-style; re-tune
            the weights).
        pr_weight, ir_weight, ins_weight: term weights (Faster R-CNN code: 1e-3, 4e-3, 2.4e-3;
            the flagged RetinaNet values are 4e-3, 5e-3, 6e-3).
        loss_weight: global multiplier (keep 1.0; the terms carry their own weights), or
            ``"auto"`` (:class:`Distiller`; the terms keep their relative weights).
        warmup_iters: every term is 0 before this iteration.
        generator: ``torch.Generator`` for the relation filters.
        name: loss-key prefix.
        teacher_side: ``"trainable"`` (the code: the teacher-side GloRe and relation modules
            train with the student) or ``"frozen"`` (they keep their initial weights and run
            without autograd: no backward through them and no optimizer state for them, a
            cheaper step; not the published method, measured in BENCHMARKS.md).
        **weighting: ``target_ratio``, ``auto_window``, ``per_term`` of :class:`Distiller`,
            read with ``loss_weight="auto"``.
    """

    def __init__(
        self,
        *,
        pixel_levels: Sequence[str] | None = None,
        num_nodes: Sequence[int] = DEFAULT_NODES,
        instance_levels: Sequence[str] | None = None,
        roi_size: int = 3,
        relation_filter: str = "code",
        norm: str = "fro",
        pr_weight: float = 1e-3,
        ir_weight: float = 4e-3,
        ins_weight: float = 2.4e-3,
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        generator: torch.Generator | None = None,
        name: str = "drkd",
        teacher_side: str = "trainable",
        **weighting,
    ):
        super().__init__(loss_weight=loss_weight, warmup_iters=warmup_iters, **weighting)
        check_choice("DRKD", "norm", norm, NORMS)
        check_choice("DRKD", "relation_filter", relation_filter, RELATION_FILTERS)
        check_choice("DRKD", "teacher_side", teacher_side, TEACHER_SIDES)
        check_nonnegative("DRKD", pr_weight=pr_weight, ir_weight=ir_weight, ins_weight=ins_weight)
        roi_size = check_whole_number("DRKD: roi_size", roi_size, 1)
        self.pixel_levels = names_list("DRKD", "pixel_levels", pixel_levels)
        self.instance_levels = names_list("DRKD", "instance_levels", instance_levels)
        self.num_nodes = list(num_nodes)
        self.roi_size = roi_size
        self.relation_filter = relation_filter
        self.norm = norm
        self.weights = {"pixel": pr_weight, "relation": ir_weight, "instance": ins_weight}
        self.generator = generator
        self.name = name
        self.teacher_side = teacher_side

    def terms(self) -> list[str]:
        return ["pixel", "relation", "instance"]

    def active(self, term: str) -> bool:
        """Whether ``term`` (``"pixel"``, ``"relation"``, ``"instance"``) reaches the loss: a
        term whose weight is 0 is not computed and its modules are not built (the released
        single-stage variant keeps only the relation term)."""
        return self.weights[term] > 0

    def required_features(self) -> Requirements:
        pixel = set(self.pixel_levels or []) if self.active("pixel") else set()
        pooled = self.active("relation") or self.active("instance")
        names = sorted(pixel | (set(self.instance_levels or []) if pooled else set()))
        return Requirements(student=names, teacher=names)

    def resolve(self, anchor_levels: list[str]) -> None:
        from_anchors = self.pixel_levels is None
        if from_anchors:
            if not anchor_levels:
                raise ValueError("DRKD: give pixel_levels (the student has no anchor levels)")
            self.pixel_levels = list(anchor_levels)
        if self.instance_levels is None:
            self.instance_levels = self.pixel_levels[:2]
        if len(self.num_nodes) != len(self.pixel_levels):
            hint = (
                " (the student's anchor levels, as pixel_levels is not given; the default "
                "num_nodes has one entry per level of an FPN p2-p6: for a student without that "
                "FPN give pixel_levels and num_nodes of equal length, e.g. pixel_levels=['res4'], "
                "num_nodes=[64])"
                if from_anchors
                else ""
            )
            raise ValueError(
                f"DRKD: {len(self.num_nodes)} num_nodes {self.num_nodes} for "
                f"{len(self.pixel_levels)} pixel_levels {self.pixel_levels}{hint}"
            )

    def build(self, student_shapes: dict, teacher_shapes: dict) -> None:
        levels = self.requirements().student
        self.check_strides(student_shapes, teacher_shapes, [(lv, lv) for lv in levels])
        self.strides = {lv: student_shapes[lv].stride for lv in levels}
        cs = {lv: student_shapes[lv].channels for lv in self.strides}
        ct = {lv: teacher_shapes[lv].channels for lv in self.strides}
        k = self.roi_size**2
        nodes = dict(zip(self.pixel_levels, self.num_nodes)) if self.active("pixel") else {}
        self.student_glore = nn.ModuleDict({lv: GloRe(cs[lv], m) for lv, m in nodes.items()})
        self.teacher_glore = nn.ModuleDict({lv: GloRe(ct[lv], m) for lv, m in nodes.items()})
        self.pixel_adapt = nn.ModuleDict({lv: conv_adapter(cs[lv], ct[lv]) for lv in nodes})

        def relation(c):
            return InstanceRelation(c * k, self.relation_filter, generator=self.generator)

        rel = self.instance_levels if self.active("relation") else []
        ins = self.instance_levels if self.active("instance") else []
        self.student_relation = nn.ModuleDict({lv: relation(cs[lv]) for lv in rel})
        self.teacher_relation = nn.ModuleDict({lv: relation(ct[lv]) for lv in rel})
        self.relation_adapt = nn.ModuleDict({lv: conv_adapter(cs[lv], ct[lv]) for lv in rel})
        self.instance_adapt = nn.ModuleDict({lv: conv_adapter(cs[lv], ct[lv]) for lv in ins})
        if self.teacher_side == "frozen":
            # before the optimizer is built: detectron2's parameter groups skip these
            for p in (*self.teacher_glore.parameters(), *self.teacher_relation.parameters()):
                p.requires_grad_(False)

    def _teacher_grad(self):
        """Autograd for the teacher-side modules: on when they train, off when frozen."""
        return torch.set_grad_enabled(self.teacher_side == "trainable" and torch.is_grad_enabled())

    def pixel_loss(self, inputs: DistillInputs) -> torch.Tensor:
        if not self.active("pixel"):
            return self._zero(inputs)
        total = 0.0
        for lv in self.pixel_levels:
            s = self.pixel_adapt[lv](self.student_glore[lv](inputs.student_features[lv]))
            with self._teacher_grad():
                t = self.teacher_glore[lv](inputs.teacher_features[lv])
            total = total + feature_distance(s, match_size(t, s.shape[-2:]), self.norm)
        return total / (len(self.pixel_levels) if self.norm == "mse" else 1)

    def pool(self, feature: torch.Tensor, boxes: list[torch.Tensor], level: str) -> torch.Tensor:
        """``(sum n_b, C, r, r)`` RoIAlign of every GT box of every image, in one call."""
        return roi_align(
            feature.float(),
            [b.float() for b in boxes],
            output_size=self.roi_size,
            spatial_scale=1.0 / self.strides[level],
            sampling_ratio=-1,
            aligned=False,
        )

    def instance_losses(self, inputs: DistillInputs) -> tuple[torch.Tensor, torch.Tensor]:
        boxes = [inst.gt_boxes.tensor for inst in inputs.gt_instances]
        counts = [len(b) for b in boxes]
        relate, imitate = self.active("relation"), self.active("instance")
        if not (relate or imitate):
            return self._zero(inputs), self._zero(inputs)
        if sum(counts) == 0:
            # no GT in the batch: an exact 0 that still touches every instance-side parameter,
            # so DDP (find_unused_parameters=False) sees the same graph on every rank
            inst = (self.student_relation, self.teacher_relation, self.relation_adapt)
            zero = self._zero(inputs)
            rel = zero + sum(p.sum() for m in inst for p in m.parameters()) * 0.0
            ins = zero + sum(p.sum() for p in self.instance_adapt.parameters()) * 0.0
            return rel, ins
        rel_total, ins_total, n_terms = 0.0, 0.0, 0
        for lv in self.instance_levels:
            rs = self.pool(inputs.student_features[lv], boxes, lv)  # (N, C_s, r, r)
            rt = self.pool(inputs.teacher_features[lv], boxes, lv)  # (N, C_t, r, r)
            if imitate:
                ins_total = ins_total + self._per_image(self.instance_adapt[lv](rs), rt, counts)
            if relate:
                zs = self._relate(self.student_relation[lv], rs, counts)
                with self._teacher_grad():
                    zt = self._relate(self.teacher_relation[lv], rt, counts)
                rel_total = rel_total + self._per_image(self.relation_adapt[lv](zs), zt, counts)
            n_terms += sum(c > 0 for c in counts)
        rel_total = rel_total if relate else self._zero(inputs)
        ins_total = ins_total if imitate else self._zero(inputs)
        if self.norm == "mse":
            return rel_total / n_terms, ins_total / n_terms
        return rel_total, ins_total

    @staticmethod
    def _zero(inputs: DistillInputs) -> torch.Tensor:
        """The exact 0 of a term that is not computed, on the features' device (the boxes' when
        no feature was asked for: every weight 0)."""
        boxes = (i.gt_boxes.tensor for i in inputs.gt_instances)
        first = next(itertools.chain(inputs.student_features.values(), boxes), None)
        return torch.zeros((), device=None if first is None else first.device)

    @staticmethod
    def _relate(module: InstanceRelation, rois: torch.Tensor, counts: list[int]) -> torch.Tensor:
        """Relation-enhanced RoI features of every image in one pass (block-diagonal
        relations: they never cross images)."""
        return module(rois.flatten(1), counts)[0].view_as(rois)

    def _per_image(self, s: torch.Tensor, t: torch.Tensor, counts: list[int]) -> torch.Tensor:
        """Sum over images of the distance between their instance features (empty images add
        0), in one pass."""
        return grouped_distance(s, t, counts, self.norm)

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        relation, instance = self.instance_losses(inputs)
        return {
            "pixel": self.weights["pixel"] * self.pixel_loss(inputs),
            "relation": self.weights["relation"] * relation,
            "instance": self.weights["instance"] * instance,
        }
