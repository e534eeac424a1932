"""What ``tools/visualize.py`` draws, computed from a distilling model: the inputs its distillers
see, DRKD's instance relations and teacher-student feature distances. No plotting here."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from detectron2.utils.events import EventStorage
from torch import nn

from relkd.distillers.base import DistillInputs
from relkd.distillers.drkd import DRKD
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
def relation_matrices(
    drkd: DRKD, inputs: DistillInputs, level: str
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """DRKD's instance relation matrices on one instance level, per image with a GT box.

    Returns:
        ``[(A_student (n, n), A_teacher (n, n), gt_classes (n,))]``; rows of each ``A`` sum to 1.
    """
    if level not in drkd.instance_levels:
        raise ValueError(f"relation_matrices: {level!r} is not among {drkd.instance_levels}")
    out = []
    for b, inst in enumerate(inputs.gt_instances):
        if not len(inst):
            continue
        boxes = [inst.gt_boxes.tensor]
        rs = drkd.pool(inputs.student_features[level][b : b + 1], boxes, level)
        rt = drkd.pool(inputs.teacher_features[level][b : b + 1], boxes, level)
        _, a_s = drkd.student_relation[level](rs.flatten(1))
        _, a_t = drkd.teacher_relation[level](rt.flatten(1))
        out.append((a_s, a_t, inst.gt_classes))
    return out


@torch.no_grad()
def feature_distances(model: nn.Module, batched_inputs: list[dict]) -> dict:
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
