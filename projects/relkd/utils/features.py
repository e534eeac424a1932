"""Named features from a detectron2 backbone, including the bottom-up stages of an FPN."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from detectron2.layers import ShapeSpec
from torch import nn


def _bottom_up(backbone: nn.Module) -> nn.Module | None:
    return getattr(backbone, "bottom_up", None)


def _stages(backbone: nn.Module) -> dict[str, nn.Module]:
    """``{name: module}`` of every stage of a detectron2 ``ResNet`` (the backbone itself or an
    FPN's bottom-up), including stages that are computed but not among its ``out_features``."""
    bottom_up = _bottom_up(backbone)
    net = backbone if bottom_up is None else bottom_up
    names = getattr(net, "stage_names", None)
    if names is None or not hasattr(net, "_out_feature_channels"):
        return {}
    out = {n: getattr(net, n) for n in names}
    if hasattr(net, "stem"):
        out["stem"] = net.stem
    return out


def feature_shapes(backbone: nn.Module) -> dict:
    """``{name: ShapeSpec}`` of the backbone outputs plus, for an FPN, its bottom-up outputs,
    plus every computed stage of a detectron2 ResNet (``res2`` of a RetinaNet's FPN too)."""
    shapes = dict(backbone.output_shape())
    bottom_up = _bottom_up(backbone)
    if bottom_up is not None:
        for k, v in bottom_up.output_shape().items():
            shapes.setdefault(k, v)
    net = backbone if bottom_up is None else bottom_up
    for name in _stages(backbone):
        shapes.setdefault(
            name,
            ShapeSpec(
                channels=net._out_feature_channels[name], stride=net._out_feature_strides[name]
            ),
        )
    return shapes


@contextmanager
def record_features(backbone: nn.Module, store: dict):
    """While active, each forward of ``backbone`` (and of an FPN's ``bottom_up``) writes its
    named outputs into ``store``.

    The hooks add no computation: the FPN computes the bottom-up features anyway. Stage hooks
    (every ``resN`` of a detectron2 ResNet) fire first; backbone outputs overwrite bottom-up
    outputs of the same name.
    """
    handles = [
        m.register_forward_hook(lambda m, i, out, name=name: store.__setitem__(name, out))
        for name, m in _stages(backbone).items()
    ]
    modules = [m for m in (_bottom_up(backbone), backbone) if m is not None]
    handles += [m.register_forward_hook(lambda m, i, out: store.update(out)) for m in modules]
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
