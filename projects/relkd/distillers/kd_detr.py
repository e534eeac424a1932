"""KD-DETR (Wang et al., CVPR 2024): distillation through consistent distillation points.

Teacher and student decode the same anchors ("distillation points") with zero content queries:
the teacher's learned anchors ("specific") and fresh random anchors each iteration ("general").
Every student decoder layer imitates the teacher's last layer on those points. No trainable
modules. The meta-architecture (``DistillDABDETR``) hands over a :class:`DetrPoints`.
"""

from __future__ import annotations

import torch

from ..layers.boxes import inverse_sigmoid
from ..losses.kd_detr import foreground_weight, point_distill_loss
from .base import DetrPoints, Distiller, DistillInputs, Requirements
from .checks import check_choice, check_nonnegative, check_range, check_whole_number
from .registry import DISTILLER_REGISTRY

POINT_SETS = ("specific", "general")
GENERAL_INITS = ("normal_logit", "uniform")
PAIRINGS = ("last", "layerwise")


@DISTILLER_REGISTRY.register()
class KDDETR(Distiller):
    """KD-DETR for DETR students whose transformer is split into encode and decode.

    Args:
        temperature: softmax temperature T of the KL (10, as in the code).
        num_general_points: R random anchors per iteration (300).
        general_init: ``"normal_logit"`` (code: N(0, 1) unsigmoided) or ``"uniform"`` (paper:
            cx, cy, w, h ~ U(0, 1), then inverse sigmoid).
        cls_weight, l1_weight, giou_weight: weights of the KL, L1 and GIoU terms (1, 5, 2).
        layer_pairing: ``"last"`` (every student layer vs the teacher's last, as in the code) or
            ``"layerwise"`` (student layer l vs teacher layer l; needs equal depths).
        point_sets: which sets to use, a subset of ``("specific", "general")``.
        generator: ``torch.Generator`` for the general points (deterministic tests).
        one_pass: decode the point sets in one decoder pass per model, kept apart in
            self-attention (``DABDETR.decode_sets``), instead of one pass per set: the same
            values up to float rounding, fewer and larger operations. Off by default: on the
            2-core CPU the step time did not change beyond noise (BENCHMARKS.md); a GPU,
            where fewer kernel launches count more, has not measured it yet.
        loss_weight, warmup_iters: see :class:`Distiller`.
        name: loss-key prefix (two KDDETR distillers in one model need different names).
        **weighting: ``target_ratio``, ``auto_window``, ``per_term`` of :class:`Distiller`,
            read with ``loss_weight="auto"`` (KD-DETR's default ratio is 4, not 0.8: on
            digits_det the code's weights, a ratio of about 4.5 in the window, gained where
            0.8 left the student at its baseline; docs/distillers.md).

    Loss keys: ``loss_kd_detr_<set>_{cls,l1,giou}``.
    """

    default_target_ratio = 4.0

    def __init__(
        self,
        *,
        temperature: float = 10.0,
        num_general_points: int = 300,
        general_init: str = "normal_logit",
        cls_weight: float = 1.0,
        l1_weight: float = 5.0,
        giou_weight: float = 2.0,
        layer_pairing: str = "last",
        point_sets: tuple[str, ...] = POINT_SETS,
        generator: torch.Generator | None = None,
        one_pass: bool = False,
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        name: str = "kd_detr",
        **weighting,
    ):
        super().__init__(loss_weight=loss_weight, warmup_iters=warmup_iters, **weighting)
        self.name = name
        check_range("KDDETR", "temperature", temperature, 0, include_low=False)
        if "general" in point_sets:
            check_whole_number("KDDETR: num_general_points", num_general_points, 1)
        check_choice("KDDETR", "general_init", general_init, GENERAL_INITS)
        check_choice("KDDETR", "layer_pairing", layer_pairing, PAIRINGS)
        bad = [p for p in point_sets if p not in POINT_SETS]
        if bad or not point_sets:
            raise ValueError(
                f"KDDETR: point_sets must be a non-empty subset of {POINT_SETS}, got {point_sets!r}"
            )
        check_nonnegative(
            "KDDETR", cls_weight=cls_weight, l1_weight=l1_weight, giou_weight=giou_weight
        )
        self.temperature = float(temperature)
        self.num_general_points = int(num_general_points)
        self.general_init = general_init
        self.weights = {"cls": cls_weight, "l1": l1_weight, "giou": giou_weight}
        self.layer_pairing = layer_pairing
        self.point_sets = tuple(p for p in POINT_SETS if p in point_sets)
        self.generator = generator
        self.one_pass = bool(one_pass)

    def terms(self) -> list[str]:
        """``<set>_cls``, ``<set>_l1`` and ``<set>_giou`` for each point set."""
        return [f"{p}_{t}" for p in self.point_sets for t in ("cls", "l1", "giou")]

    def required_features(self) -> Requirements:
        """DETR decoder passes (no named features)."""
        return Requirements(detr_points=True)

    def sample_general(self, device: torch.device) -> torch.Tensor:
        """``(R, 4)`` unsigmoided general points, drawn afresh on each call."""
        g = self.generator
        where = g.device if g is not None else device
        shape = (self.num_general_points, 4)
        if self.general_init == "normal_logit":
            x = torch.randn(shape, generator=g, device=where)
        else:
            x = inverse_sigmoid(torch.rand(shape, generator=g, device=where))
        return x.to(device)

    def point_anchors(self, points: DetrPoints) -> list[tuple[str, torch.Tensor]]:
        """``[(set name, (N, 4) unsigmoided anchors)]`` for this step; general points are drawn
        afresh on each call."""
        out = []
        for name in self.point_sets:
            if name == "specific":
                out.append((name, points.teacher_anchors.detach()))
            else:
                out.append((name, self.sample_general(points.teacher_anchors.device)))
        return out

    def _pair(self, s_logits, s_boxes, t_logits, t_boxes) -> dict[str, torch.Tensor]:
        if self.layer_pairing == "last":
            return point_distill_loss(
                s_logits, s_boxes, t_logits[-1], t_boxes[-1], self.temperature
            )
        if s_logits.shape[0] != t_logits.shape[0]:
            raise ValueError(
                f"KDDETR: layer_pairing='layerwise' needs equal decoder depths; the student has "
                f"{s_logits.shape[0]} layers and the teacher {t_logits.shape[0]}"
            )
        per_layer = [
            point_distill_loss(
                s_logits[i : i + 1], s_boxes[i : i + 1], t_logits[i], t_boxes[i], self.temperature
            )
            for i in range(s_logits.shape[0])
        ]
        return {k: sum(p[k] for p in per_layer) for k in per_layer[0]}

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{"<set>_cls", "<set>_l1", "<set>_giou": ()}`` per point set, each times its
        weight (``cls_weight``, ...): both decoders run from the set's ``(N, 4)`` anchors, and
        every student layer's ``logits (L, B, N, K)`` and ``boxes (L, B, N, 4)`` are compared
        with the teacher's (its last layer, or the same layer with ``layerwise``) by
        :func:`~relkd.losses.kd_detr.point_distill_loss`."""
        points = inputs.detr_points
        if not isinstance(points, DetrPoints):
            raise TypeError(
                "KDDETR needs a DETR student whose meta-architecture provides decoder passes "
                "(relkd.meta_arch.DistillDABDETR)"
            )
        out = {}
        names, anchors = zip(*self.point_anchors(points))
        teacher = points.decode("teacher", list(anchors), self.one_pass)
        student = points.decode("student", list(anchors), self.one_pass)
        for name, (t_logits, t_boxes), (s_logits, s_boxes) in zip(names, teacher, student):
            terms = self._pair(s_logits, s_boxes, t_logits.detach(), t_boxes.detach())
            self.log(f"{name}/fg_weight", foreground_weight(t_logits[-1]).mean())
            out.update(
                {
                    f"{name}_{k}": terms[t] * self.weights[k]
                    for k, t in zip(("cls", "l1", "giou"), ("kl", "l1", "giou"))
                }
            )
        return out
