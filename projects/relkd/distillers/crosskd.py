"""CrossKD: cross-head knowledge distillation (Wang et al., CVPR 2024), for dense heads.

The student's head features after its first ``i`` conv blocks go through the teacher's
remaining blocks and prediction convs; these cross-head predictions imitate the teacher's own
(QFL for the classes, GIoU for the decoded boxes). The gradient reaches the student's first
blocks, neck and backbone through the frozen teacher layers; the student's later head layers
train on the detection losses only. The Faster R-CNN variant is :mod:`.crosskd_rcnn`.
docs/methods.md, "CrossKD".
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
from detectron2.structures import Boxes
from torch import nn

from ..layers.adapters import conv_adapter
from ..losses.crosskd import giou_kd, quality_focal_kd
from ..utils.resize import match_size
from .base import Distiller, DistillInputs, Requirements
from .checks import check_nonnegative, check_range, check_whole_number
from .registry import DISTILLER_REGISTRY


@contextmanager
def fp32(device: torch.device):
    """Autocast off: the teacher's layers run in fp32 on fp32 inputs, as its features are."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def block_ends(subnet: nn.Sequential) -> list[int]:
    """The index in ``subnet`` of the ReLU that closes each ``conv [norm] ReLU`` block."""
    return [i for i, m in enumerate(subnet) if isinstance(m, nn.ReLU)]


# the branches of a RetinaNet-style head: (its conv tower, its prediction conv)
BRANCHES = {"cls": ("cls_subnet", "cls_score"), "box": ("bbox_subnet", "bbox_pred")}


@DISTILLER_REGISTRY.register()
class CrossKD(Distiller):
    """CrossKD for a dense detector (detectron2's RetinaNet; FCOS's head has the same layout),
    teacher and student alike: two terms, ``cls`` (QFL against the teacher's sigmoid scores)
    and ``box`` (GIoU between the decoded boxes), each the mean over every anchor of the batch.

    The student's head layout is given here because the recorded module is named before the
    model is seen (``head.cls_subnet.<k>``); the first step checks it against the student.

    Args:
        cross_after: how many of the student's conv blocks run before the teacher's; ``None``:
            all but the last (the paper's 3 on a 4-conv head). 0 feeds the FPN level itself.
        head_convs: the student's conv blocks per branch (``len(head.conv_dims)``; detectron2's
            RetinaNet: 4).
        head_norm: whether each block has a norm layer (detectron2's ``head.norm`` set; FCOS's
            GN head: True).
        beta: QFL's exponent (GFL's 2).
        cls_weight, box_weight: the terms' weights (the paper's 1 and 1).
        loss_weight, warmup_iters, **weighting: see :class:`~relkd.distillers.Distiller`.
        name: loss-key prefix: ``loss_crosskd_cls``, ``loss_crosskd_box``.
    """

    def __init__(
        self,
        *,
        cross_after: int | None = None,
        head_convs: int = 4,
        head_norm: bool = False,
        beta: float = 2.0,
        cls_weight: float = 1.0,
        box_weight: float = 1.0,
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        name: str = "crosskd",
        **weighting,
    ):
        super().__init__(loss_weight=loss_weight, warmup_iters=warmup_iters, **weighting)
        self.head_convs = check_whole_number("CrossKD: head_convs", head_convs, 1)
        if not isinstance(head_norm, bool):
            raise ValueError(f"CrossKD: head_norm must be True or False, got {head_norm!r}")
        self.head_norm = head_norm
        after = self.head_convs - 1 if cross_after is None else cross_after
        self.cross_after = check_whole_number("CrossKD: cross_after", after)
        if self.cross_after > self.head_convs:
            raise ValueError(
                f"CrossKD: cross_after must be <= head_convs ({self.head_convs}), got {after}"
            )
        self.beta = check_range("CrossKD", "beta", beta, 0)
        check_nonnegative("CrossKD", cls_weight=cls_weight, box_weight=box_weight)
        self.weights = {"cls": float(cls_weight), "box": float(box_weight)}
        self.name = name
        self.levels: list[str] = []
        self.align = nn.ModuleDict()  # C_s -> C_t per branch, where the widths differ
        self._checked = False

    def terms(self) -> list[str]:
        return ["cls", "box"]

    def recorded(self, branch: str) -> str:
        """The student module whose calls give the branch's block-``i`` features: the conv
        tower itself for ``i = 0`` (its input), else the ReLU closing block ``i``."""
        tower = f"head.{BRANCHES[branch][0]}"
        if self.cross_after == 0:
            return tower
        return f"{tower}.{self.cross_after * (3 if self.head_norm else 2) - 1}"

    def resolve(self, anchor_levels: list[str]) -> None:
        if not anchor_levels:
            raise ValueError("CrossKD needs a dense detector student (RetinaNet, FCOS)")
        self.levels = list(anchor_levels)  # the head's levels

    def required_features(self) -> Requirements:
        return Requirements(
            teacher=self.levels,
            inputs=("anchors", "student_model", "teacher_model"),
            student_modules=tuple(self.recorded(b) for b in BRANCHES),
        )

    def build(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """A 1x1 conv per branch where the student's head width (its FPN width) differs from
        the teacher's."""
        self.check_strides(student_shapes, teacher_shapes, [(n, n) for n in self.levels])
        cs, ct = student_shapes[self.levels[0]].channels, teacher_shapes[self.levels[0]].channels
        if cs != ct:
            for branch in BRANCHES:
                self.align[branch] = conv_adapter(cs, ct, 1)

    def _rest(self, teacher: nn.Module, branch: str) -> list[nn.Module]:
        """The teacher's layers after its block ``i`` in ``branch``, prediction conv included."""
        tower, pred = BRANCHES[branch]
        subnet = getattr(teacher.head, tower)
        start = block_ends(subnet)[self.cross_after - 1] + 1 if self.cross_after else 0
        return [*list(subnet)[start:], getattr(teacher.head, pred)]

    def _check(self, inputs: DistillInputs, teacher: nn.Module) -> None:
        """Once, at the first step: the teacher has a dense head this can cross into, the
        student's head has the layout the recorded names assume, the widths and anchors agree."""
        head = getattr(teacher, "head", None)
        need = [a for pair in BRANCHES.values() for a in pair]
        if head is None or not all(hasattr(head, a) for a in need):
            raise ValueError(
                f"CrossKD: the teacher is a {type(teacher).__name__}, not a dense detector with a "
                f"RetinaNet-style head ({', '.join(need)}); CrossKD runs the student's head "
                "features through the teacher's head. For a Faster R-CNN pair use CrossKDROI"
            )
        if list(teacher.head_in_features) != self.levels:
            raise ValueError(
                f"CrossKD: the teacher's head reads {list(teacher.head_in_features)}, the "
                f"student's {self.levels}; CrossKD pairs the two heads level by level"
            )
        student = inputs.get("student_model").head
        per_block = 3 if self.head_norm else 2
        for branch, (tower, _) in BRANCHES.items():
            ends = block_ends(getattr(student, tower))
            layout = (len(ends), ends[0] + 1 if ends else per_block)
            if layout != (self.head_convs, per_block):
                raise ValueError(
                    f"CrossKD: the student's head.{tower} has {layout[0]} conv blocks of "
                    f"{layout[1]} layers; give head_convs={layout[0]}, "
                    f"head_norm={layout[1] == 3} (got {self.head_convs}, {self.head_norm})"
                )
            n_teacher = len(block_ends(getattr(head, tower)))
            if n_teacher < self.cross_after:
                raise ValueError(
                    f"CrossKD: cross_after={self.cross_after}, but the teacher's head.{tower} has "
                    f"{n_teacher} conv blocks"
                )
            calls = inputs.student_modules[self.recorded(branch)]
            if len(calls) != len(self.levels):
                raise ValueError(
                    f"CrossKD: {self.recorded(branch)} ran {len(calls)} times in the step, not "
                    f"once per head level {self.levels}"
                )
            first = next(m for m in self._rest(teacher, branch) if isinstance(m, nn.Conv2d))
            width = self._features(branch, calls[0]).shape[1]
            if width != first.in_channels:
                raise ValueError(
                    f"CrossKD: the student's {self.recorded(branch)} gives {width} channels "
                    f"(after any adapter) and the teacher's next conv takes {first.in_channels}; "
                    "the adapters are sized from the FPN widths, so the student's head must be "
                    "as wide as its FPN"
                )
        grids = [c.output for c in inputs.student_modules[self.recorded("cls")]]
        generated = teacher.anchor_generator(grids)  # from the maps' sizes
        if not all(torch.equal(a.tensor, b.tensor) for a, b in zip(generated, inputs.anchors)):
            raise ValueError(
                "CrossKD: the teacher's anchors differ from the student's; both predictions are "
                "decoded with the student's, so the two detectors must share their anchors"
            )

    def _features(self, branch: str, call) -> torch.Tensor:
        """The student's block-``i`` features ``(B, C_t, H, W)`` of one level, aligned."""
        x = (call.args[0] if self.cross_after == 0 else call.output).float()
        return self.align[branch](x) if branch in self.align else x

    def _branch(self, teacher: nn.Module, branch: str, inputs: DistillInputs):
        """``(crossed, own)``, each ``(B, R, K)`` (``K = 4`` deltas for ``"box"``) over the
        ``R`` anchors of every level: the cross-head predictions and the teacher's own, cropped
        to the student's grid (the teacher may pad its input to another size divisibility)."""
        tower, pred = getattr(teacher.head, BRANCHES[branch][0]), BRANCHES[branch][1]
        rest = self._rest(teacher, branch)
        crossed = []
        for call in inputs.student_modules[self.recorded(branch)]:
            x = self._features(branch, call)
            for layer in rest:
                x = layer(x)
            crossed.append(x)
        with torch.no_grad():
            own = [
                getattr(teacher.head, pred)(tower(inputs.teacher_features[n])) for n in self.levels
            ]
        own = [match_size(t, s.shape[-2:]) for t, s in zip(own, crossed)]
        k = teacher.num_classes if branch == "cls" else 4
        return tuple(
            torch.cat([permute_to_N_HWA_K(x, k) for x in maps], 1) for maps in (crossed, own)
        )

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{"cls", "box"}``: QFL between the cross-head and the teacher's class logits, and
        GIoU between the boxes they decode to (the teacher's ``box2box_transform`` on the
        student's anchors), each a mean over every anchor of the batch, times its weight."""
        teacher = inputs.get("teacher_model")
        if not self._checked:
            self._check(inputs, teacher)
            self._checked = True
        with fp32(teacher.pixel_mean.device):
            s_cls, t_cls = self._branch(teacher, "cls", inputs)
            s_box, t_box = self._branch(teacher, "box", inputs)
            anchors = Boxes.cat(inputs.get("anchors")).tensor  # (R, 4)
            anchors = anchors[None].expand(s_box.shape[0], -1, -1).reshape(-1, 4)
            decode = teacher.box2box_transform.apply_deltas
            s_boxes = decode(s_box.reshape(-1, 4), anchors)
            t_boxes = decode(t_box.reshape(-1, 4), anchors)
            cls = quality_focal_kd(s_cls.flatten(0, 1), t_cls.flatten(0, 1), self.beta)
            box = giou_kd(s_boxes, t_boxes)
        return {"cls": self.weights["cls"] * cls, "box": self.weights["box"] * box}
