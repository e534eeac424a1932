"""Shared by the distiller tests: one training step of a digits distilling model with a given
distiller, and the two-level feature maps of the paired-feature distillers' tests."""

from __future__ import annotations

import torch
from detectron2.layers import ShapeSpec


def level_shapes(c: int, names=("p3", "p4")) -> dict[str, ShapeSpec]:
    """``{name: ShapeSpec(channels=c, stride=8 * 2**i)}`` for the ``i``-th name."""
    return {n: ShapeSpec(channels=c, stride=8 * 2**i) for i, n in enumerate(names)}


def level_features(c: int, seed: int) -> dict[str, torch.Tensor]:
    """Seeded N(0, 1) maps: ``p3`` ``(2, c, 8, 8)`` and ``p4`` ``(2, c, 4, 4)``."""
    g = torch.Generator().manual_seed(seed)
    return {"p3": torch.randn(2, c, 8, 8, generator=g), "p4": torch.randn(2, c, 4, 4, generator=g)}


def train_one_step(distiller_node, digits_batch, det: str = "retinanet"):
    """Build ``configs/digits/<det>_R18_distill_base.py`` with ``distiller_node`` (a LazyCall)
    as its one distiller and a random teacher declared as loaded, run one training forward on
    ``digits_batch`` past every warm-up and back-propagate the summed losses.

    Returns:
        ``(model, losses)``; the gradients are in the parameters.
    """
    from detectron2.config import LazyCall as L
    from detectron2.config import instantiate
    from detectron2.utils.events import EventStorage

    from relkd import Teacher

    from ..conftest import load_cfg

    cfg = load_cfg(f"digits/{det}_R18_distill_base.py")
    torch.manual_seed(0)
    # random weights, declared as loaded: the test needs a teacher, not a trained one
    cfg.model.teacher = L(Teacher)(model=instantiate(cfg.model.teacher.model), loaded=True)
    cfg.model.distillers = [distiller_node]
    model = instantiate(cfg.model).train()
    with EventStorage(10_000):
        losses = model(digits_batch)
    sum(losses.values()).backward()
    return model, losses


def assert_trains_the_student_only(model) -> None:
    """Every distiller parameter and the student's backbone get a non-zero gradient, the
    teacher none."""
    grads = {n: p.grad for n, p in model.distillers.named_parameters()}
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values()), [
        n for n, g in grads.items() if g is None or g.abs().sum() == 0
    ]
    assert model.backbone.bottom_up.res4[0].conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.model.parameters())
