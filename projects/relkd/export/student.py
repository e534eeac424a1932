"""The student alone: its config node, its checkpoint and its traced module.

A distilled checkpoint holds the student plus ``distillers.*`` (adapters, relation units; never
the teacher). Deployment needs the student only, loadable into the plain detectron2 class.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator

import torch
from torch import nn

from ..utils.grads import DISTILLER_PREFIX

# the arguments a distilling meta-architecture adds to its host detector's
RELKD_ARGS = ("teacher", "distillers", "nonfinite", "max_consecutive_skips")


def plain_class(cls: type) -> type:
    """The detector class a distilling meta-architecture extends (``DistillRCNN`` ->
    ``GeneralizedRCNN``); a plain detector class is returned as is."""
    from ..meta_arch.distill import DistillMixin

    if not issubclass(cls, DistillMixin):
        return cls
    # the first module class up the MRO that is not relkd's (mixins such as the nonfinite
    # policy are no modules)
    return next(
        c for c in cls.__mro__ if issubclass(c, nn.Module) and not issubclass(c, DistillMixin)
    )


def student_config(model_cfg):
    """A copy of a LazyConfig ``model`` node that builds the plain student (no teacher, no
    distillers), with the same detector arguments."""
    node = copy.deepcopy(model_cfg)
    target = node["_target_"]
    if isinstance(target, str):
        from detectron2.utils.registry import locate

        target = locate(target)
    node["_target_"] = plain_class(target)
    for key in RELKD_ARGS:
        if key in node:
            del node[key]
    return node


def yacs_student_config(cfg):
    """A copy of a distilled yacs config that builds the plain student with detectron2's
    ``build_model`` (``MODEL.META_ARCHITECTURE`` of the class the distilling one extends, no
    ``RELKD`` node): it loads with ``get_cfg().merge_from_file`` where relkd is not installed."""
    from detectron2.modeling import META_ARCH_REGISTRY

    out = cfg.clone()
    out.defrost()
    name = out.MODEL.META_ARCHITECTURE
    out.MODEL.META_ARCHITECTURE = plain_class(META_ARCH_REGISTRY.get(name)).__name__
    out.pop("RELKD", None)
    out.MODEL.WEIGHTS = ""
    return out


def detectron2_stages(node):
    """``node`` (a LazyConfig node, changed in place and returned) with every
    ``relkd.modeling.resnet_stages`` node replaced by the detectron2 ``ResNet.make_stage``
    nodes it stands for (:func:`relkd.modeling.resnet.resnet_stage_nodes`), so that a student
    config built with relkd's any-width ResNets names detectron2 alone."""
    from detectron2.utils.registry import locate
    from omegaconf import DictConfig, ListConfig

    from ..modeling.resnet import resnet_stage_nodes, resnet_stages

    def is_stages(target) -> bool:
        if isinstance(target, str):
            try:
                target = locate(target)
            except ImportError:
                return False
        return target is resnet_stages

    def visit(x):
        items = x.items() if isinstance(x, DictConfig) else enumerate(x)
        for key, value in list(items):
            if isinstance(value, DictConfig) and is_stages(value.get("_target_")):
                x[key] = resnet_stage_nodes(**{k: v for k, v in value.items() if k != "_target_"})
            elif isinstance(value, (DictConfig, ListConfig)):
                visit(value)

    visit(node)
    return node


def write_student_config(cfg, weights: str, path: str) -> str:
    """Write the config of the plain student whose checkpoint is ``weights`` to ``path``: for
    a yacs ``cfg``, :func:`yacs_student_config` with ``MODEL.WEIGHTS``; for a LazyConfig, its
    ``model`` (:func:`student_config`), ``dataloader.test`` and ``train.init_checkpoint``.

    Returns:
        The file that loads: ``path``, or, for a LazyConfig that holds an object yaml cannot
        write (the model zoo's LSJ configs set a norm to a lambda), the ``path + ".pkl"`` that
        ``LazyConfig.save`` writes beside the unloadable yaml (``cloudpickle.load`` gives the
        config; it needs neither relkd nor the config's source files).
    """
    from detectron2.config import CfgNode, LazyConfig
    from omegaconf import OmegaConf

    if isinstance(cfg, CfgNode):
        out = yacs_student_config(cfg)
        out.MODEL.WEIGHTS = weights
        with open(path, "w") as f:
            f.write(out.dump())
        return path
    out = OmegaConf.create(
        {
            "model": detectron2_stages(student_config(cfg.model)),
            "train": {"init_checkpoint": weights},
        },
        flags={"allow_objects": True},
    )
    if "dataloader" in cfg and "test" in cfg.dataloader:
        # resolved here: its interpolations may point into the rest of the config (the model
        # zoo's test mapper reads ``${...train.mapper.image_format}``), which is not copied
        test = OmegaConf.to_container(cfg.dataloader.test, resolve=True)
        out.dataloader = {"test": test}
    pickled = f"{path}.pkl"
    if os.path.exists(pickled):
        os.remove(pickled)  # a stale one would be taken for this config's
    LazyConfig.save(out, path)
    try:
        LazyConfig.load(path)
    except Exception as e:  # yaml's constructor errors, a lambda's unimportable module
        if not os.path.isfile(pickled):
            raise RuntimeError(f"write_student_config: {path} does not load back: {e}") from e
        return pickled
    return path


def student_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A distilled model's ``state_dict`` without the distillers' modules."""
    return {k: v for k, v in state.items() if not k.startswith(DISTILLER_PREFIX)}


def export_student(ckpt: str, out: str) -> dict[str, int]:
    """Write the student-only checkpoint ``{"model": weights}`` of the distilled ``ckpt``.

    Returns:
        ``{"kept": n, "dropped": m}`` tensor counts.
    """
    if not os.path.isfile(ckpt):
        raise FileNotFoundError(f"export_student: no checkpoint {ckpt!r}")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"export_student: {ckpt!r} is not a detectron2 checkpoint with 'model'")
    teacher = [k for k in state["model"] if k.startswith("teacher.")]
    if teacher:  # relkd never saves the teacher; such a file was not written by relkd
        raise ValueError(f"export_student: {ckpt!r} holds teacher weights ({teacher[0]}, ...)")
    kept = student_state(state["model"])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save({"model": kept, "__author__": "relkd.export_student"}, out)
    return {"kept": len(kept), "dropped": len(state["model"]) - len(kept)}


def trace_student(model: nn.Module, image: torch.Tensor):
    """``torch.jit.trace`` of an eval-mode detector through detectron2's ``TracingAdapter``.

    Args:
        model: the plain student, in eval mode.
        image: ``(3, H, W)`` example input, in the model's input format.

    Returns:
        ``(traced, adapter)``: call ``adapter.outputs_schema(traced(image))`` to get the
        detector's usual ``[{"instances": Instances}]``.
    """
    from detectron2.export import TracingAdapter

    if model.training:
        raise ValueError("trace_student: put the model in eval mode first")
    adapter = TracingAdapter(model, ([{"image": image}],))
    with torch.no_grad():
        traced = torch.jit.trace(adapter, adapter.flattened_inputs, check_trace=False)
    return traced, adapter


@contextlib.contextmanager
def trace_nms() -> Iterator[bool]:
    """Within this block, eager ``torchvision.ops.batched_nms`` runs as it does in a trace.

    torchvision picks the batched-NMS algorithm by mode: eager, with more than 1,000 boxes on a
    CPU, it loops over classes (``_batched_nms_vanilla``); under tracing it always offsets each
    class's boxes and runs one NMS (``_batched_nms_coordinate_trick``). The offset boxes round
    differently, so a box whose IoU sits at the threshold can be kept by one and suppressed by
    the other. Comparing a trace with eager mode therefore means running eager mode here.

    Yields:
        ``True`` if the eager algorithm was switched, ``False`` where this torchvision has no
        such split (nothing to switch).
    """
    from torchvision.ops import boxes

    loop = getattr(boxes, "_batched_nms_vanilla", None)
    offset = getattr(boxes, "_batched_nms_coordinate_trick", None)
    if loop is None or offset is None:
        yield False
        return
    boxes._batched_nms_vanilla = offset
    try:
        yield True
    finally:
        boxes._batched_nms_vanilla = loop


def max_output_difference(a: list[dict], b: list[dict]) -> float:
    """Largest absolute difference of scores, boxes and, where the detectors predict them,
    masks (``pred_masks``, ``(N, H, W)``: a pixel in one mask and not the other counts 1)
    between two detectors' outputs on the same images; ``inf`` when the detection counts or
    classes differ, or one of them predicts masks and the other does not."""
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        x, y = x["instances"], y["instances"]
        if len(x) != len(y) or not torch.equal(x.pred_classes, y.pred_classes):
            return float("inf")
        if x.has("pred_masks") != y.has("pred_masks"):
            return float("inf")
        if len(x):
            worst = max(
                worst,
                (x.scores - y.scores).abs().max().item(),
                (x.pred_boxes.tensor - y.pred_boxes.tensor).abs().max().item(),
            )
        if len(x) and x.has("pred_masks"):
            masks = x.pred_masks.float() - y.pred_masks.float()
            worst = max(worst, masks.abs().max().item())
    return worst
