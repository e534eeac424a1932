"""DRKD: dual relation knowledge distillation (Ni et al., IJCAI 2023), docs/methods.md, "DRKD".

Three terms on FPN features, with the official code's modules and weights:
- ``pixel``: GloRe units on every level, a student-side and a (trainable) teacher-side one,
  student output through a 1x1 adapter;
- ``relation``: GT-box RoIAlign (3x3) features on the first two levels through per-image
  instance-relation modules (relation filter on), student side through a 1x1 adapter;
- ``instance``: the RoIAlign features themselves, student side through a 1x1 adapter.

This file holds the arguments, the levels and the modules; the terms are computed in
:mod:`.drkd_terms`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers.adapters import conv_adapter
from ..layers.glore import GloRe
from ..layers.relation import RELATION_FILTERS, InstanceRelation
from ..losses.drkd import NORMS
from .base import DistillInputs, Requirements
from .checks import (
    check_choice,
    check_nonnegative,
    check_whole_number,
    names_list,
    renamed_arguments,
)
from .drkd_terms import DRKDTerms
from .registry import DISTILLER_REGISTRY

DEFAULT_NODES = (64, 64, 256, 256, 256)
TEACHER_SIDES = ("trainable", "frozen")
# the term weights of the official two-stage (Faster R-CNN) file, by term
CODE_WEIGHTS = {"pixel": 1e-3, "relation": 4e-3, "instance": 2.4e-3}
# the weights' former names, still read (with a DeprecationWarning) from configs written for them
FORMER_WEIGHT_NAMES = {
    "pr_weight": "pixel_weight",
    "ir_weight": "relation_weight",
    "ins_weight": "instance_weight",
}


@DISTILLER_REGISTRY.register()
class DRKD(DRKDTerms):
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
        pixel_weight, relation_weight, instance_weight: the weights of the pixel, relation and
            instance terms; ``None``: the Faster R-CNN code's 1e-3, 4e-3, 2.4e-3 (the flagged
            RetinaNet values are 4e-3, 5e-3, 6e-3). Their former names ``pr_weight``,
            ``ir_weight``, ``ins_weight`` are still read, with a ``DeprecationWarning``.
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
        pixel_weight: float | None = None,
        relation_weight: float | None = None,
        instance_weight: float | None = None,
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        generator: torch.Generator | None = None,
        name: str = "drkd",
        teacher_side: str = "trainable",
        **weighting,
    ):
        # {"pixel_weight": (name as given, value), ...}; the former names leave `weighting`
        given = renamed_arguments(
            "DRKD",
            {
                "pixel_weight": pixel_weight,
                "relation_weight": relation_weight,
                "instance_weight": instance_weight,
            },
            weighting,
            FORMER_WEIGHT_NAMES,
        )
        super().__init__(loss_weight=loss_weight, warmup_iters=warmup_iters, **weighting)
        check_choice("DRKD", "norm", norm, NORMS)
        check_choice("DRKD", "relation_filter", relation_filter, RELATION_FILTERS)
        check_choice("DRKD", "teacher_side", teacher_side, TEACHER_SIDES)
        check_nonnegative("DRKD", **dict(given.values()))
        roi_size = check_whole_number("DRKD: roi_size", roi_size, 1)
        self.pixel_levels = names_list("DRKD", "pixel_levels", pixel_levels)
        self.instance_levels = names_list("DRKD", "instance_levels", instance_levels)
        self.num_nodes = list(num_nodes)
        self.roi_size = roi_size
        self.relation_filter = relation_filter
        self.norm = norm
        values = {name: value for name, (_, value) in given.items()}
        # {term: weight}: the weight given for the term, else the code's
        self.weights = {t: values.get(f"{t}_weight", w) for t, w in CODE_WEIGHTS.items()}
        self.generator = generator
        self.name = name
        self.teacher_side = teacher_side

    def terms(self) -> list[str]:
        """DRKD's terms, ``["pixel", "relation", "instance"]``."""
        return ["pixel", "relation", "instance"]

    def required_features(self) -> Requirements:
        """The levels of the active terms, the same on both sides: the pixel levels (pixel
        term) and the instance levels (relation and instance terms)."""
        pixel = set(self.pixel_levels or []) if self.active("pixel") else set()
        pooled = self.active("relation") or self.active("instance")
        names = sorted(pixel | (set(self.instance_levels or []) if pooled else set()))
        return Requirements(student=names, teacher=names)

    def resolve(self, anchor_levels: list[str]) -> None:
        """Take the pixel levels from ``anchor_levels`` when not given and the instance levels
        from the pixel levels when not given; check one GloRe node count per pixel level."""
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
        """Check the strides and build, on the levels of the active terms: the pixel term's
        GloRe units (student and teacher side) and 1x1 adapter, the relation term's
        instance-relation modules (both sides) and adapter, the instance term's adapter."""
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

        def relation_module(c):
            return InstanceRelation(c * k, self.relation_filter, generator=self.generator)

        relation = self.instance_levels if self.active("relation") else []
        instance = self.instance_levels if self.active("instance") else []
        self.student_relation = nn.ModuleDict({lv: relation_module(cs[lv]) for lv in relation})
        self.teacher_relation = nn.ModuleDict({lv: relation_module(ct[lv]) for lv in relation})
        self.relation_adapt = nn.ModuleDict({lv: conv_adapter(cs[lv], ct[lv]) for lv in relation})
        self.instance_adapt = nn.ModuleDict({lv: conv_adapter(cs[lv], ct[lv]) for lv in instance})
        if self.teacher_side == "frozen":
            # before the optimizer is built: detectron2's parameter groups skip these
            for p in (*self.teacher_glore.parameters(), *self.teacher_relation.parameters()):
                p.requires_grad_(False)

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{"pixel", "relation", "instance"}``, each ``()`` fp32: a term times its weight
        (``pixel_weight``, ...), before ``loss_weight`` and the warm-up."""
        relation, instance = self.instance_losses(inputs)
        return {
            "pixel": self.weights["pixel"] * self.pixel_loss(inputs),
            "relation": self.weights["relation"] * relation,
            "instance": self.weights["instance"] * instance,
        }

    @torch.no_grad()
    def pictures(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """The instance relations of each image with a GT box on each level of the relation
        term, ``{"relation/<level>/<b>": (2, n_b, n_b)}``: the student's, then the teacher's."""
        out = {}
        for lv in self.student_relation:  # empty when the relation term is off
            for b, inst in enumerate(inputs.gt_instances):
                if not len(inst):
                    continue
                boxes = [inst.gt_boxes.tensor]
                rs = self.pool(inputs.student_features[lv][b : b + 1], boxes, lv)  # (n, C_s, r, r)
                rt = self.pool(inputs.teacher_features[lv][b : b + 1], boxes, lv)  # (n, C_t, r, r)
                a_s = self.student_relation[lv](rs.flatten(1))[1]  # (n, n)
                a_t = self.teacher_relation[lv](rt.flatten(1))[1]
                out[f"relation/{lv}/{b}"] = torch.stack((a_s, a_t))
        return out
