"""MGD: masked generative distillation (Yang et al., ECCV 2022).

Random positions of the student's map are zeroed and a small generation block (3x3 conv, ReLU,
3x3 conv) must rebuild the teacher's whole map from what is left; the student learns features
from which the teacher's can be generated. docs/methods.md, "MGD".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..losses.mgd import mgd_loss, random_keep_mask
from .base import DistillInputs
from .checks import check_range
from .paired import PairedFeatureDistiller
from .registry import DISTILLER_REGISTRY


def generation_block(channels: int) -> nn.Sequential:
    """MGD's generation block on ``channels`` (the teacher's): 3x3 conv, ReLU, 3x3 conv, both
    convs with a bias and PyTorch's default initialisation, as in the official code."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, kernel_size=3, padding=1),
    )


@DISTILLER_REGISTRY.register()
class MGD(PairedFeatureDistiller):
    """Masked generation of the teacher's features, one term per feature pair.

    Loss keys: ``loss_mgd_<student feature>``, each the official per-level loss
    (:func:`~relkd.losses.mgd.mgd_loss` of the generated map) times ``loss_weight``; the
    official code sums the levels' losses, as the total loss does here.

    Args:
        student_features: student feature names (default: the official RetinaNet setting,
            every FPN level p3-p7; its Faster R-CNN setting is p2-p5).
        teacher_features: teacher feature names paired in order; defaults to the student's.
        lambda_mgd: the masked fraction of positions (official: 0.65 for RetinaNet, 0.45 for
            Faster R-CNN).
        loss_weight: ``alpha_mgd``, the per-level weight (official: 2e-5 for RetinaNet, 5e-7
            for Faster R-CNN), or ``"auto"``.
        warmup_iters: terms are 0 before this iteration (official: none).
        generator: ``torch.Generator`` for the masks; ``None`` (default): the default generator
            of the features' device, which ``torch.manual_seed`` (detectron2's ``train.seed``)
            seeds, so that a seeded run repeats its masks.
        name: loss-key prefix.
        **weighting: ``target_ratio``, ``auto_window``, ``per_term`` of
            :class:`~relkd.distillers.Distiller`, read with ``loss_weight="auto"``.
    """

    def __init__(
        self,
        *,
        student_features: Sequence[str] = ("p3", "p4", "p5", "p6", "p7"),
        teacher_features: Sequence[str] | None = None,
        lambda_mgd: float = 0.65,
        loss_weight: float | str = 2e-5,
        warmup_iters: int = 0,
        generator: torch.Generator | None = None,
        name: str = "mgd",
        **weighting,
    ):
        super().__init__(
            student_features=student_features,
            teacher_features=teacher_features,
            loss_weight=loss_weight,
            warmup_iters=warmup_iters,
            **weighting,
        )
        self.lambda_mgd = check_range("MGD", "lambda_mgd", lambda_mgd, 0, 1)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"MGD: generator must be a torch.Generator or None, got {generator!r}")
        self.generator = generator
        self.name = name
        self.generation = nn.ModuleDict()

    def build_pair(self, student_name: str, teacher_channels: int) -> None:
        """A generation block on the teacher's channels for each student feature."""
        self.generation[student_name] = generation_block(teacher_channels)

    def masks(self, shapes: dict[str, tuple[int, int, int, int]], device) -> dict:
        """``{student feature: (B, 1, H, W)}`` float keep-masks (0 at the masked positions),
        drawn afresh on each call, one level after another in ``student_features`` order."""
        return {
            s: random_keep_mask(shape, self.lambda_mgd, device=device, generator=self.generator)
            for s, shape in shapes.items()
        }

    def compute(self, inputs: DistillInputs) -> dict[str, torch.Tensor]:
        """``{student feature: ()}``: the (aligned) student map ``(B, C_t, H, W)``, masked at
        random positions, through the generation block, against the teacher's map."""
        pairs = self.aligned_pairs(inputs)
        device = pairs[0][1].device
        masks = self.masks({s: tuple(fs.shape) for s, fs, _ in pairs}, device)
        out = {}
        for s, fs, ft in pairs:
            generated = self.generation[s](fs * masks[s].to(fs.dtype))
            out[s] = mgd_loss(generated, ft)
        return out
