"""CrossKD for Faster R-CNN, crossed inside the ROI box head: relkd's design (the paper says
only that CrossKD extends to two-stage detectors). The student's ROI features after its first
``i`` fc blocks go through the teacher's remaining fc blocks and box predictor; the teacher's
own predictions come from its ROI head on its own features and the student's sampled
proposals. docs/methods.md, "CrossKD", "Faster R-CNN (relkd's design)".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from detectron2.structures import Boxes
from torch import nn

from ..losses.crosskd import giou_kd, softmax_kd
from .base import Distiller, DistillInputs, Requirements
from .checks import check_nonnegative, check_range, check_whole_number, names_list
from .crosskd import fp32
from .registry import DISTILLER_REGISTRY

POOLER = "roi_heads.box_pooler"


def _fc_dims(value) -> tuple[int, int] | None:
    if value is None:
        return None
    ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
    if not ok or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        raise ValueError(
            f"CrossKDROI: fc_dims must be None or (student width, teacher width), got {value!r}"
        )
    return int(value[0]), int(value[1])


@DISTILLER_REGISTRY.register()
class CrossKDROI(Distiller):
    """CrossKD in the ROI box head of an R-CNN (detectron2's ``FastRCNNConvFCHead`` with at
    least ``cross_after`` fc layers, teacher and student alike): two terms, ``cls`` (softmax KL
    over the ``K + 1`` classes) and ``box`` (GIoU between the boxes decoded for the teacher's
    most likely foreground class), each a mean over the student's sampled ROIs.

    Args:
        cross_after: how many of the student's fc blocks (``fc<k>`` + ``fc_relu<k>``) run
            before the teacher's (1: the teacher's second fc and its predictor on the 2-fc
            heads of detectron2).
        box_in_features: the teacher's ROI box levels (its ``roi_heads.box_in_features``,
            checked at the first step; detectron2's FPN R-CNNs: p2-p5).
        fc_dims: ``(student width, teacher width)`` of the crossed features where they differ:
            a Linear maps one to the other; ``None``: equal widths (checked at the first step).
        temperature: the KL's temperature ``T`` (the loss is scaled by ``T^2``).
        cls_weight, box_weight: the terms' weights (1 and 1, as the paper's dense ones).
        loss_weight, warmup_iters, **weighting: see :class:`~relkd.distillers.Distiller`.
        name: loss-key prefix: ``loss_crosskd_roi_cls``, ``loss_crosskd_roi_box``.
    """

    def __init__(
        self,
        *,
        cross_after: int = 1,
        box_in_features: Sequence[str] = ("p2", "p3", "p4", "p5"),
        fc_dims: tuple[int, int] | None = None,
        temperature: float = 1.0,
        cls_weight: float = 1.0,
        box_weight: float = 1.0,
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        name: str = "crosskd_roi",
        **weighting,
    ):
        super().__init__(loss_weight=loss_weight, warmup_iters=warmup_iters, **weighting)
        self.cross_after = check_whole_number("CrossKDROI: cross_after", cross_after, 1)
        self.box_in_features = names_list("CrossKDROI", "box_in_features", box_in_features)
        if not self.box_in_features:
            raise ValueError("CrossKDROI: box_in_features is empty")
        self.fc_dims = _fc_dims(fc_dims)
        self.temperature = check_range(
            "CrossKDROI", "temperature", temperature, 0, include_low=False
        )
        check_nonnegative("CrossKDROI", cls_weight=cls_weight, box_weight=box_weight)
        self.weights = {"cls": float(cls_weight), "box": float(box_weight)}
        self.name = name
        self.align = None
        if self.fc_dims is not None and self.fc_dims[0] != self.fc_dims[1]:
            self.align = nn.Linear(*self.fc_dims)
        self._checked = False

    @property
    def recorded(self) -> str:
        """The student's ReLU closing its fc block ``i``."""
        return f"roi_heads.box_head.fc_relu{self.cross_after}"

    def terms(self) -> list[str]:
        return ["cls", "box"]

    def required_features(self) -> Requirements:
        return Requirements(
            teacher=self.box_in_features,
            inputs=("teacher_model",),
            student_modules=(POOLER, self.recorded),
        )

    def _rest(self, teacher: nn.Module) -> list[nn.Module]:
        """The teacher's box-head layers after its fc block ``i``."""
        names = [n for n, _ in teacher.roi_heads.box_head.named_children()]
        layers = list(teacher.roi_heads.box_head.children())
        return layers[names.index(f"fc_relu{self.cross_after}") + 1 :]

    def _check(self, inputs: DistillInputs, teacher: nn.Module) -> None:
        """Once, at the first step: the teacher has an fc box head to cross into, on the levels
        given, of the width the student's crossed features have."""
        heads = getattr(teacher, "roi_heads", None)
        box_head = getattr(heads, "box_head", None)
        predictor = getattr(heads, "box_predictor", None)
        if not all(hasattr(predictor, a) for a in ("cls_score", "bbox_pred", "box2box_transform")):
            raise ValueError(
                f"CrossKDROI: the teacher is a {type(teacher).__name__}, not an R-CNN with a "
                "Fast R-CNN box predictor (roi_heads.box_predictor.cls_score, bbox_pred); "
                "for a dense-head pair use CrossKD"
            )
        fcs = [n for n, _ in box_head.named_children() if n.startswith("fc_relu")]
        if f"fc_relu{self.cross_after}" not in fcs:
            raise ValueError(
                f"CrossKDROI: cross_after={self.cross_after}, but the teacher's box head "
                f"({type(box_head).__name__}) has {len(fcs)} fc layer(s)"
            )
        if list(heads.box_in_features) != self.box_in_features:
            raise ValueError(
                f"CrossKDROI: the teacher's ROI box head reads {list(heads.box_in_features)}; "
                f"give box_in_features={list(heads.box_in_features)} (got {self.box_in_features})"
            )
        pooled, crossed = inputs.student_modules[POOLER], inputs.student_modules[self.recorded]
        if len(pooled) != 1 or len(crossed) != 1:
            raise ValueError(
                f"CrossKDROI: {POOLER} ran {len(pooled)} and {self.recorded} {len(crossed)} "
                "times in the step; one box head pass is expected (no cascade)"
            )
        first = next(
            m for m in [*self._rest(teacher), predictor.cls_score] if hasattr(m, "in_features")
        )
        width = crossed[0].output.shape[1]
        want = (width, first.in_features)
        if (self.fc_dims or (width, width)) != want:
            raise ValueError(
                f"CrossKDROI: the student's {self.recorded} gives {width} features and the "
                f"teacher's next layer takes {first.in_features}; give fc_dims={want} "
                f"(got {self.fc_dims})"
            )

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{"cls", "box"}``: the softmax KL between the cross-head and the teacher's class
        logits over the student's sampled ROIs, and the GIoU between their boxes for the
        teacher's most likely foreground class, each a mean over the ROIs, times its weight."""
        teacher = inputs.get("teacher_model")
        if not self._checked:
            self._check(inputs, teacher)
            self._checked = True
        heads = teacher.roi_heads
        predictor = heads.box_predictor
        _, boxes = inputs.student_modules[POOLER][0].args  # the student's sampled proposals
        with fp32(teacher.pixel_mean.device):
            x = inputs.student_modules[self.recorded][0].output.float()  # (R, D_s)
            if self.align is not None:
                x = self.align(x)
            for layer in self._rest(teacher):
                x = layer(x)
            s_logits, s_deltas = predictor(x)  # (R, K + 1), (R, 4 K) or (R, 4)
            with torch.no_grad():
                feats = [inputs.teacher_features[n] for n in self.box_in_features]
                t_logits, t_deltas = predictor(heads.box_head(heads.box_pooler(feats, boxes)))
            proposals = Boxes.cat(boxes).tensor  # (R, 4)
            decode = predictor.box2box_transform.apply_deltas
            s_boxes, t_boxes = decode(s_deltas, proposals), decode(t_deltas, proposals)
            if s_boxes.shape[1] > 4:  # class-specific: the teacher's most likely class
                best = t_logits[:, :-1].argmax(dim=1)  # the last logit is the background
                rows = torch.arange(best.shape[0], device=best.device)
                s_boxes = s_boxes.view(len(rows), -1, 4)[rows, best]
                t_boxes = t_boxes.view(len(rows), -1, 4)[rows, best]
            cls = softmax_kd(s_logits, t_logits, self.temperature)
            box = giou_kd(s_boxes, t_boxes)
        return {"cls": self.weights["cls"] * cls, "box": self.weights["box"] * box}
