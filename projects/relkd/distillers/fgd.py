"""FGD: focal and global knowledge distillation (Yang et al., CVPR 2022).

Focal: the student imitates the teacher's map inside and outside the GT boxes separately
(each cell weighted by the teacher's spatial and channel attention, box cells by the inverse of
their box's area) and matches the teacher's attention maps. Global: a GcBlock on each side
(trained with the student) adds its map's global context, and the two results are compared.
docs/methods.md, "FGD".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers.context import GlobalContext
from ..losses.fgd import FGD_PARTS, FGD_TEMPERATURE, fgd_masks, fgd_parts
from .base import DistillInputs
from .checks import check_choice, check_nonnegative, check_range
from .paired import PairedFeatureDistiller
from .registry import DISTILLER_REGISTRY

# how GT boxes are put on a level's cells: "image", the official code's mapping (each image's
# boxes scaled by its own size to the whole padded map), or "stride" (divided by the stride)
BOX_SCALES = ("image", "stride")


@DISTILLER_REGISTRY.register()
class FGD(PairedFeatureDistiller):
    """Focal and global distillation, one term per feature pair.

    Loss keys: ``loss_fgd_<student feature>``, each the official per-level loss
    ``alpha * fg + beta * bg + gamma * attention + lambda_ * global``
    (:func:`~relkd.losses.fgd.fgd_loss`) times ``loss_weight``; the official code sums the
    levels' losses, as the total loss does here. Diagnostics ``relkd/<name>/<part>`` for the
    parts ``fg``, ``bg``, ``attention``, ``global``: each summed over the levels, times its
    weight (``alpha`` ...), before ``loss_weight``.

    The GT boxes are read from ``inputs.gt_instances`` (``gt_boxes`` in input pixels); with
    ``box_scale="image"`` each image's size is its ``Instances.image_size`` (the resized image
    before padding, mmdet's ``img_shape``).

    Args:
        student_features: student feature names (default: the official RetinaNet setting,
            every FPN level p3-p7; its Faster R-CNN setting is p2-p5, the FPN convs' outputs).
        teacher_features: teacher feature names paired in order; defaults to the student's.
        temperature: of the spatial and channel attentions (official: 0.5).
        alpha: foreground weight, ``alpha_fgd`` (official: 1e-3 RetinaNet, 5e-5 Faster R-CNN).
        beta: background weight, ``beta_fgd`` (official: 5e-4, 2.5e-5).
        gamma: attention weight, ``gamma_fgd`` (official: 5e-4, 5e-5).
        lambda_: global (relation) weight, ``lambda_fgd`` (official: 5e-6, 5e-7); the trailing
            underscore because ``lambda`` is a Python keyword (yacs: ``LAMBDA_``).
        box_scale: ``"image"`` (official: each image's boxes scaled by its own size to the
            whole padded map, stretched where the image is smaller than the batch) or
            ``"stride"`` (boxes divided by the level's stride: the cells under them).
        loss_weight: a multiplier of every term (1: the per-part weights carry the official
            scale), or ``"auto"``.
        warmup_iters: terms are 0 before this iteration (official: none).
        name: loss-key prefix.
        **weighting: ``target_ratio``, ``auto_window``, ``per_term`` of
            :class:`~relkd.distillers.Distiller`, read with ``loss_weight="auto"``.
    """

    def __init__(
        self,
        *,
        student_features: Sequence[str] = ("p3", "p4", "p5", "p6", "p7"),
        teacher_features: Sequence[str] | None = None,
        temperature: float = FGD_TEMPERATURE,
        alpha: float = 1e-3,
        beta: float = 5e-4,
        gamma: float = 5e-4,
        lambda_: float = 5e-6,
        box_scale: str = "image",
        loss_weight: float | str = 1.0,
        warmup_iters: int = 0,
        name: str = "fgd",
        **weighting,
    ):
        super().__init__(
            student_features=student_features,
            teacher_features=teacher_features,
            loss_weight=loss_weight,
            warmup_iters=warmup_iters,
            **weighting,
        )
        self.temperature = check_range("FGD", "temperature", temperature, 0, include_low=False)
        check_nonnegative("FGD", alpha=alpha, beta=beta, gamma=gamma, lambda_=lambda_)
        check_choice("FGD", "box_scale", box_scale, BOX_SCALES)
        # in the order of FGD_PARTS
        self.part_weights = {
            "fg": float(alpha),
            "bg": float(beta),
            "attention": float(gamma),
            "global": float(lambda_),
        }
        self.box_scale = box_scale
        self.name = name
        self.context_s = nn.ModuleDict()
        self.context_t = nn.ModuleDict()
        self.strides: dict[str, int] = {}

    def build(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """The alignment convs (:class:`PairedFeatureDistiller`), a GcBlock per side and level,
        and the student levels' strides (``box_scale="stride"``)."""
        self.strides = {s: student_shapes[s].stride for s in self.student_names}
        super().build(student_shapes, teacher_shapes)

    def build_pair(self, student_name: str, teacher_channels: int) -> None:
        """A student-side and a teacher-side GcBlock on the teacher's channels, as the official
        code's ``conv_mask_s``/``channel_add_conv_s`` and ``conv_mask_t``/``channel_add_conv_t``."""
        self.context_s[student_name] = GlobalContext(teacher_channels)
        self.context_t[student_name] = GlobalContext(teacher_channels)

    def masks(
        self,
        inputs: DistillInputs,
        level: str,
        size: tuple[int, int],
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(fg, bg)``, each ``(B, H, W)``: :func:`~relkd.losses.fgd.fgd_masks` of the GT
        boxes on the student level ``level`` of ``size``."""
        boxes = [inst.gt_boxes.tensor for inst in inputs.gt_instances]
        if self.box_scale == "image":
            sizes = [inst.image_size for inst in inputs.gt_instances]
            return fgd_masks(boxes, size, image_sizes=sizes, dtype=dtype, device=device)
        return fgd_masks(boxes, size, stride=self.strides[level], dtype=dtype, device=device)

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{student feature: ()}``: FGD's weighted per-level loss between the (aligned)
        student map ``(B, C_t, H, W)`` and the teacher's."""
        out = {}
        parts: dict[str, list[torch.Tensor]] = {p: [] for p in FGD_PARTS}
        for s, fs, ft in self.aligned_pairs(inputs):
            dtype = torch.promote_types(torch.promote_types(fs.dtype, ft.dtype), torch.float32)
            fg, bg = self.masks(inputs, s, tuple(fs.shape[-2:]), dtype, fs.device)
            level = fgd_parts(
                fs, ft, fg, bg, self.context_s[s](fs), self.context_t[s](ft), self.temperature
            )
            weighted = [self.part_weights[p] * level[p] for p in FGD_PARTS]
            out[s] = weighted[0] + weighted[1] + weighted[2] + weighted[3]
            for p, v in zip(FGD_PARTS, weighted):
                parts[p].append(v)
        for p, values in parts.items():
            self.log(p, torch.stack(values).sum())
        return out

    @torch.no_grad()
    def pictures(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """The foreground masks, ``{"mask/<feature>": (B, H, W)}``, each image's divided by
        its largest value: 1 on the smallest box, less on larger ones, 0 off the boxes."""
        out = {}
        for s in self.student_names:
            size = tuple(inputs.student_features[s].shape[-2:])
            fg, _ = self.masks(inputs, s, size)
            out[f"mask/{s}"] = fg / fg.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
        return out
