"""What ``tools/visualize.py`` draws, computed from a distilling model: the inputs its distillers
see (each distiller makes its own pictures of them, :meth:`relkd.distillers.Distiller.pictures`)
and teacher-student feature distances. No plotting here (:mod:`.drawing` draws)."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from detectron2.utils.events import EventStorage
from torch import nn

from relkd.distillers.base import DistillInputs
from relkd.utils.features import record_features
from relkd.utils.resize import match_size


@contextmanager
def training_forward(model: nn.Module):
    """Training mode with every norm layer in eval mode (no running-statistics updates, the
    features of inference), restored afterwards."""
    was = model.training
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase):
            m.eval()
    try:
        yield model
    finally:
        model.train(was)


@torch.no_grad()
def capture_distill_inputs(model: nn.Module, batched_inputs: list[dict]) -> DistillInputs:
    """The ``DistillInputs`` the distillers of ``model`` receive on ``batched_inputs`` (which
    need ``instances``), from one training forward without gradients."""
    if not len(model.distillers):
        raise ValueError("capture_distill_inputs: the model has no distillers")
    seen: list[DistillInputs] = []
    hook = model.distillers[0].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        with training_forward(model), EventStorage(0):  # the heads' losses log into a storage
            model(batched_inputs)
    finally:
        hook.remove()
    return seen[0]


@torch.no_grad()
def feature_distances(
    model: nn.Module, batched_inputs: list[dict]
) -> dict[str, torch.Tensor | None]:
    """Per-location mean squared teacher-student difference of the backbone's output features.

    Returns:
        ``{name: (B, H_l, W_l)}`` for every output feature whose channel counts agree (the
        teacher's map resized to the student's), and ``{name: None}`` where they differ.
    """
    images = model.preprocess_image(batched_inputs)
    store: dict = {}
    with training_forward(model), record_features(model.backbone, store):
        model.backbone(images.tensor)
    names = list(model.backbone.output_shape())
    teacher = model.teacher.features(images.tensor, images.image_sizes, names)
    out = {}
    for n in names:
        s, t = store[n], teacher[n]
        if s.shape[1] != t.shape[1]:
            out[n] = None
            continue
        out[n] = (s.float() - match_size(t.float(), s.shape[-2:])).pow(2).mean(1)
    return out
