"""DRKD's terms computed from the modules :class:`~relkd.distillers.drkd.DRKD` builds: the
pixel term on GloRe units, the relation and instance terms on RoIAlign features of the GT boxes
(docs/methods.md, "DRKD")."""

from __future__ import annotations

import itertools

import torch
from torchvision.ops import roi_align

from ..layers.relation import InstanceRelation
from ..losses.drkd import feature_distance, grouped_distance
from ..utils.resize import match_size
from .base import Distiller, DistillInputs


class DRKDTerms(Distiller):
    """The computation of DRKD's unweighted terms; :class:`~relkd.distillers.drkd.DRKD` sets
    what it reads: ``weights`` (by term), ``pixel_levels``, ``instance_levels``, ``roi_size``,
    ``norm``, ``teacher_side``, ``strides`` (by level), and the modules by level
    (``student_glore``, ``teacher_glore``, ``pixel_adapt``, ``student_relation``,
    ``teacher_relation``, ``relation_adapt``, ``instance_adapt``).
    """

    def active(self, term: str) -> bool:
        """Whether ``term`` (``"pixel"``, ``"relation"``, ``"instance"``) reaches the loss: a
        term whose weight is 0 is not computed and its modules are not built (the released
        single-stage variant keeps only the relation term)."""
        return self.weights[term] > 0

    def _teacher_grad(self):
        """Autograd for the teacher-side modules: on when they train, off when frozen."""
        return torch.set_grad_enabled(self.teacher_side == "trainable" and torch.is_grad_enabled())

    def pixel_loss(self, inputs: DistillInputs) -> torch.Tensor:
        """The unweighted pixel term, ``()`` fp32 (an exact 0 when the term is off).

        On each pixel level the student's ``(B, C_s, H_l, W_l)`` goes through its GloRe unit
        and the 1x1 adapter to ``(B, C_t, H_l, W_l)``, the teacher's ``(B, C_t, H_l', W_l')``
        through its own GloRe unit, cropped or padded to ``(H_l, W_l)``; the distances
        (:func:`~relkd.losses.drkd.feature_distance`) are summed over the levels (averaged with
        ``norm="mse"``).
        """
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
        """RoIAlign of every GT box of every image, in one call.

        Args:
            feature: ``(B, C, H_l, W_l)``, the map of ``level``.
            boxes: per image, ``(n_b, 4)`` XYXY boxes in input pixels.
            level: the feature name (its stride scales the boxes).

        Returns:
            ``(sum n_b, C, r, r)`` fp32, ``r = roi_size``, the boxes of image 0 first.
        """
        return roi_align(
            feature.float(),
            [b.float() for b in boxes],
            output_size=self.roi_size,
            spatial_scale=1.0 / self.strides[level],
            sampling_ratio=-1,
            aligned=False,
        )

    def instance_losses(self, inputs: DistillInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """The unweighted relation and instance terms, ``(relation, instance)``, each ``()``
        fp32 (an exact 0 for a term that is off).

        On each instance level the GT boxes (``(n_b, 4)`` per image) are pooled from both sides
        (:meth:`pool`): ``(N, C_s, r, r)`` and ``(N, C_t, r, r)``, ``N = sum n_b``. Instance
        term: the student's RoI features through the 1x1 adapter against the teacher's.
        Relation term: each side's RoI features through its instance-relation module
        (relations within an image only), the student's then through the adapter, against the
        teacher's. Distances are taken per image and summed over images and levels (averaged
        over the image-level pairs with boxes with ``norm="mse"``). A batch without boxes gives
        exact 0s that still reach every instance-side parameter.
        """
        boxes = [inst.gt_boxes.tensor for inst in inputs.gt_instances]
        counts = [len(b) for b in boxes]
        relation_on, instance_on = self.active("relation"), self.active("instance")
        if not (relation_on or instance_on):
            return self._zero(inputs), self._zero(inputs)
        if sum(counts) == 0:
            # no GT in the batch: an exact 0 that still touches every instance-side parameter,
            # so DDP (find_unused_parameters=False) sees the same graph on every rank
            modules = (self.student_relation, self.teacher_relation, self.relation_adapt)
            zero = self._zero(inputs)
            relation = zero + sum(p.sum() for m in modules for p in m.parameters()) * 0.0
            instance = zero + sum(p.sum() for p in self.instance_adapt.parameters()) * 0.0
            return relation, instance
        relation_total, instance_total, n_terms = 0.0, 0.0, 0
        for lv in self.instance_levels:
            rs = self.pool(inputs.student_features[lv], boxes, lv)  # (N, C_s, r, r)
            rt = self.pool(inputs.teacher_features[lv], boxes, lv)  # (N, C_t, r, r)
            if instance_on:
                distance = self._per_image(self.instance_adapt[lv](rs), rt, counts)
                instance_total = instance_total + distance
            if relation_on:
                zs = self._relate(self.student_relation[lv], rs, counts)
                with self._teacher_grad():
                    zt = self._relate(self.teacher_relation[lv], rt, counts)
                distance = self._per_image(self.relation_adapt[lv](zs), zt, counts)
                relation_total = relation_total + distance
            n_terms += sum(c > 0 for c in counts)
        relation_total = relation_total if relation_on else self._zero(inputs)
        instance_total = instance_total if instance_on else self._zero(inputs)
        if self.norm == "mse":
            return relation_total / n_terms, instance_total / n_terms
        return relation_total, instance_total

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
