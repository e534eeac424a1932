"""Named features from a detectron2 backbone, including the bottom-up stages of an FPN."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


def _bottom_up(backbone: nn.Module) -> nn.Module | None:
    return getattr(backbone, "bottom_up", None)


def feature_shapes(backbone: nn.Module) -> dict:
    """``{name: ShapeSpec}`` of the backbone outputs plus, for an FPN, its bottom-up stages."""
    shapes = dict(backbone.output_shape())
    bottom_up = _bottom_up(backbone)
    if bottom_up is not None:
        for k, v in bottom_up.output_shape().items():
            shapes.setdefault(k, v)
    return shapes


@contextmanager
def record_features(backbone: nn.Module, store: dict):
    """While active, each forward of ``backbone`` (and of an FPN's ``bottom_up``) writes its
    named outputs into ``store``.

    The hooks add no computation: the FPN computes the bottom-up features anyway. Backbone
    outputs overwrite bottom-up outputs of the same name.
    """
    modules = [m for m in (_bottom_up(backbone), backbone) if m is not None]
    handles = [m.register_forward_hook(lambda m, i, out: store.update(out)) for m in modules]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def capture_features(backbone: nn.Module, x: torch.Tensor, names: list[str]) -> dict:
    """Run ``backbone(x)`` and return ``{name: feature}`` for the requested ``names``."""
    store: dict = {}
    with record_features(backbone, store):
        backbone(x)
    missing = [n for n in names if n not in store]
    if missing:
        raise KeyError(f"Backbone produced no feature(s) {missing}; available: {sorted(store)}")
    return {n: store[n] for n in names}
