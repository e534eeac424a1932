"""The models ``tools/benchmark.py`` times: the distilled model and its plain student with the
same weights, a copy in ``loss_weight="auto"``'s window, frozen norms set for random weights,
and the optimizer at a thousandth of the config's rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    import torch
    from torch import nn


def build(cfg, args: argparse.Namespace, device: torch.device | str) -> tuple[nn.Module, nn.Module]:
    """``(distilled model, plain student with the same weights)``, both in training mode.

    ``args``: ``random_teacher`` (build the teacher's architecture without its weights) and
    ``teacher_dtype`` (``None``: the config's), as ``tools/benchmark.py`` parses them.
    """
    from detectron2.config import LazyCall as L
    from detectron2.config import LazyConfig, instantiate

    from relkd.export.student import student_config, student_state
    from relkd.loading import resolve_path
    from relkd.teacher import Teacher

    if "teacher" not in cfg.model:
        target = cfg.model.get("_target_")
        raise SystemExit(
            f"benchmark: the config's model ({getattr(target, '__name__', target)}) has no "
            "teacher; the benchmark measures distillation overhead: give a distilled config "
            "(configs/digits/<detector>_R18_<method>.py)"
        )
    if args.random_teacher:  # the teacher's architecture, without its weights
        teacher = cfg.model.teacher
        node = teacher.get("model")
        if node is None:
            node = LazyConfig.load(resolve_path(teacher.config)).model
        # every other argument (dtype, channels_last) as the config sets it
        kept = {k: v for k, v in teacher.items() if k not in ("_target_", "config", "weights")}
        cfg.model.teacher = L(Teacher)(**{**kept, "model": node, "loaded": True})
    if args.teacher_dtype is not None:
        cfg.model.teacher.dtype = args.teacher_dtype
    model = instantiate(cfg.model).to(device).train()
    plain = instantiate(student_config(cfg.model)).to(device).train()
    plain.load_state_dict(student_state(model.state_dict()))
    return model, plain


def in_auto_window(cfg, model: nn.Module, device: torch.device | str) -> nn.Module:
    """A copy of ``model`` whose distillers have ``loss_weight="auto"`` and a window that never
    ends: each of its training steps measures the gradient norms, as a window step does."""
    import copy

    from detectron2.config import instantiate

    auto_cfg = copy.deepcopy(cfg.model)
    for node in auto_cfg.distillers:
        node.loss_weight, node.auto_window = "auto", 10**9
    auto = instantiate(auto_cfg).to(device).train()
    auto.load_state_dict(model.state_dict(), strict=False)  # the auto buffers stay fresh
    return auto


def calibrate_frozen_norms(model: nn.Module, batch: list[dict]) -> int:
    """Set every ``FrozenBatchNorm2d`` of ``model``'s backbone to its input's batch statistics.

    Random weights through a ResNet whose frozen norms are the identity grow layer by layer
    until they overflow at 800 x 1333; the model-zoo weights these layers expect would have
    kept the activations in range. Returns the number of layers set.
    """
    import torch
    from detectron2.layers import FrozenBatchNorm2d

    def set_stats(m, args):
        x = args[0].float()  # (B, C, H, W), the layer's input
        m.running_mean.copy_(x.mean((0, 2, 3)))
        m.running_var.copy_(x.var((0, 2, 3)))

    norms = [m for m in model.backbone.modules() if isinstance(m, FrozenBatchNorm2d)]
    hooks = [m.register_forward_pre_hook(set_stats) for m in norms]
    try:
        with torch.no_grad():
            model.backbone(model.preprocess_image(batch).tensor)
    finally:
        for h in hooks:
            h.remove()
    return len(norms)


def optimizer_for(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """The config's optimizer, with every learning rate divided by 1000: random-weight models
    (``--random-teacher``, synthetic data) would otherwise diverge within a few steps. The cost
    of a step does not depend on the rate."""
    from detectron2.config import instantiate

    cfg.optimizer.params.model = model
    opt = instantiate(cfg.optimizer)
    for group in opt.param_groups:
        group["lr"] = group["lr"] * 1e-3
    return opt
