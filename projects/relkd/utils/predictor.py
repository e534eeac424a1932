"""A LazyConfig student written as a yacs config, so that detectron2's ``DefaultPredictor`` runs
it where relkd is not installed.

``DefaultPredictor`` builds its model from a yacs ``CfgNode``. Two things stand between a
LazyConfig student and such a config:

- the mapping from LazyConfig nodes to yacs keys (:func:`yacs_config`), written here for the
  detectors relkd distils whose backbone is a ResNet-FPN: ``RetinaNet`` and Faster R-CNN
  (``GeneralizedRCNN`` with an ``RPN`` and ``StandardROIHeads`` without masks);
- detectron2's yacs ResNet builder makes ResNet-18/34 only at base width 64
  (``RES2_OUT_CHANNELS`` must be 64), while the digits students are 32 wide. A narrower
  ResNet-18/34 is written as the 64-wide one holding the student's weights in its first
  channels and zeros in the others (:func:`embed_state`): a zero channel stays zero through
  every convolution, norm, ReLU and residual sum, so the wider network computes the student's
  outputs, at the wider network's cost.

Nothing is assumed to be right: ``tools/export_student.py`` builds both models and compares
their outputs before it writes the files.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn


class NotExpressible(ValueError):
    """The student has no yacs equivalent; the message names what is missing."""


def _cls(node: dict) -> type:
    target = node.get("_target_") if isinstance(node, dict) else None
    if isinstance(target, str):
        from detectron2.utils.registry import locate

        target = locate(target)
    return target


def _arg(node: dict, name: str) -> Any:
    """``node[name]``, or the default of that argument of the node's class."""
    if name in node:
        return node[name]
    cls = _cls(node)
    # arguments that a class passes on in **kwargs are declared by a base class
    for base in cls.__mro__ if isinstance(cls, type) else (cls,):
        param = inspect.signature(base).parameters.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            return param.default
    raise NotExpressible(f"{getattr(cls, '__name__', cls)}: argument {name!r} has no value")


def _expect(node: dict, cls: type, where: str) -> None:
    if _cls(node) is not cls:
        got = getattr(_cls(node), "__name__", node.get("_target_"))
        raise NotExpressible(f"{where} is {got}: a yacs config builds only {cls.__name__} there")


def _resnet(cfg, bottom_up: dict) -> None:
    from detectron2.modeling.backbone import BasicStem, ResNet

    from ..modeling.resnet import resnet_stages

    _expect(bottom_up, ResNet, "the backbone's bottom_up")
    _expect(bottom_up["stem"], BasicStem, "the ResNet stem")
    stages = dict(bottom_up["stages"])
    target = _cls(stages)
    if target is ResNet.make_default_stages:
        stages.setdefault("width", 64)
    elif target is not resnet_stages:
        raise NotExpressible(f"ResNet stages from {target}: not a ResNet of a standard depth")
    known = {"_target_", "depth", "width", "num_groups", "width_per_group", "stride_in_1x1"}
    extra = set(stages) - known - {"norm"}
    if extra:
        raise NotExpressible(f"ResNet stage arguments {sorted(extra)} have no yacs key")
    depth, width = stages["depth"], stages.get("width", 64)
    groups = stages.get("num_groups", 1)
    norm = stages.get("norm", "BN")
    if bottom_up["stem"].get("norm", "BN") != norm:
        raise NotExpressible("the ResNet stem and stages use different norms; yacs has one NORM")
    r = cfg.MODEL.RESNETS
    r.DEPTH, r.NORM, r.NUM_GROUPS = depth, norm, groups
    r.STEM_OUT_CHANNELS = bottom_up["stem"]["out_channels"]
    r.OUT_FEATURES = list(bottom_up["out_features"])
    r.STRIDE_IN_1X1 = stages.get("stride_in_1x1", True)
    if depth in (18, 34):
        if width > 64 or groups != 1:
            raise NotExpressible(f"ResNet-{depth} of width {width}, {groups} groups")
        r.RES2_OUT_CHANNELS = 64  # the only width detectron2 builds; see embed_state
    else:
        r.WIDTH_PER_GROUP = stages.get("width_per_group") or width // groups
        r.RES2_OUT_CHANNELS = width * 4
    cfg.MODEL.BACKBONE.FREEZE_AT = bottom_up.get("freeze_at", 0)


def _fpn(cfg, backbone: dict) -> None:
    from detectron2.modeling.backbone import FPN
    from detectron2.modeling.backbone.fpn import LastLevelMaxPool, LastLevelP6P7

    _expect(backbone, FPN, "the backbone")
    _resnet(cfg, backbone["bottom_up"])
    if backbone.get("square_pad", 0):
        raise NotExpressible("FPN square_pad has no yacs key")
    top = _cls(backbone.get("top_block") or {})
    if top is LastLevelMaxPool:
        cfg.MODEL.BACKBONE.NAME = "build_resnet_fpn_backbone"
    elif top is LastLevelP6P7 and _arg(backbone["top_block"], "in_feature") == "res5":
        cfg.MODEL.BACKBONE.NAME = "build_retinanet_resnet_fpn_backbone"
    else:
        raise NotExpressible(f"FPN top block {top}: yacs builds LastLevelMaxPool or P6P7 on res5")
    f = cfg.MODEL.FPN
    f.IN_FEATURES = list(backbone["in_features"])
    f.OUT_CHANNELS = backbone["out_channels"]
    f.NORM = _arg(backbone, "norm")
    f.FUSE_TYPE = _arg(backbone, "fuse_type")


def _anchors(cfg, node: dict) -> None:
    a = cfg.MODEL.ANCHOR_GENERATOR
    a.SIZES = [list(s) for s in node["sizes"]]
    ratios = node["aspect_ratios"]
    a.ASPECT_RATIOS = [list(r) for r in ratios] if isinstance(ratios[0], list) else [list(ratios)]
    a.OFFSET = _arg(node, "offset")


def _matcher(section, node: dict) -> None:
    section.IOU_THRESHOLDS = list(node["thresholds"])
    section.IOU_LABELS = list(node["labels"])


def _retinanet(cfg, node: dict) -> None:
    head = node["head"]
    dims = set(head["conv_dims"])
    if len(dims) > 1 or dims - {cfg.MODEL.FPN.OUT_CHANNELS}:
        raise NotExpressible(f"RetinaNet head conv_dims {head['conv_dims']}: yacs uses FPN width")
    r = cfg.MODEL.RETINANET
    r.NUM_CLASSES = node["num_classes"]
    r.IN_FEATURES = list(node["head_in_features"])
    r.NUM_CONVS = len(head["conv_dims"])
    r.NORM = _arg(head, "norm")
    r.PRIOR_PROB = _arg(head, "prior_prob")
    _matcher(r, node["anchor_matcher"])
    r.BBOX_REG_WEIGHTS = tuple(node["box2box_transform"]["weights"])
    for key, arg in (
        ("FOCAL_LOSS_ALPHA", "focal_loss_alpha"),
        ("FOCAL_LOSS_GAMMA", "focal_loss_gamma"),
        ("SMOOTH_L1_LOSS_BETA", "smooth_l1_beta"),
        ("BBOX_REG_LOSS_TYPE", "box_reg_loss_type"),
        ("SCORE_THRESH_TEST", "test_score_thresh"),
        ("TOPK_CANDIDATES_TEST", "test_topk_candidates"),
        ("NMS_THRESH_TEST", "test_nms_thresh"),
    ):
        r[key] = _arg(node, arg)
    cfg.TEST.DETECTIONS_PER_IMAGE = _arg(node, "max_detections_per_image")
    _anchors(cfg, node["anchor_generator"])


def _rpn(cfg, rpn: dict) -> None:
    from detectron2.modeling.proposal_generator import RPN, StandardRPNHead

    _expect(rpn, RPN, "the proposal generator")
    _expect(rpn["head"], StandardRPNHead, "the RPN head")
    r = cfg.MODEL.RPN
    r.IN_FEATURES = list(rpn["in_features"])
    r.CONV_DIMS = list(_arg(rpn["head"], "conv_dims"))
    _matcher(r, rpn["anchor_matcher"])
    r.BBOX_REG_WEIGHTS = tuple(rpn["box2box_transform"]["weights"])
    r.BATCH_SIZE_PER_IMAGE = rpn["batch_size_per_image"]
    r.POSITIVE_FRACTION = rpn["positive_fraction"]
    r.PRE_NMS_TOPK_TRAIN, r.PRE_NMS_TOPK_TEST = rpn["pre_nms_topk"]
    r.POST_NMS_TOPK_TRAIN, r.POST_NMS_TOPK_TEST = rpn["post_nms_topk"]
    r.NMS_THRESH = rpn["nms_thresh"]
    r.BOUNDARY_THRESH = _arg(rpn, "anchor_boundary_thresh")
    r.SMOOTH_L1_BETA = _arg(rpn, "smooth_l1_beta")
    r.BBOX_REG_LOSS_TYPE = _arg(rpn, "box_reg_loss_type")
    weight = _arg(rpn, "loss_weight")
    if isinstance(weight, dict):
        raise NotExpressible("RPN per-loss weights: yacs has LOSS_WEIGHT and BBOX_REG_LOSS_WEIGHT")
    r.LOSS_WEIGHT = weight
    cfg.MODEL.PROPOSAL_GENERATOR.MIN_SIZE = _arg(rpn, "min_box_size")
    _anchors(cfg, rpn["anchor_generator"])


def _roi_heads(cfg, heads: dict) -> None:
    from detectron2.modeling.poolers import ROIPooler
    from detectron2.modeling.roi_heads import (
        FastRCNNConvFCHead,
        FastRCNNOutputLayers,
        StandardROIHeads,
    )

    _expect(heads, StandardROIHeads, "roi_heads")
    if heads.get("mask_in_features") or heads.get("keypoint_in_features"):
        raise NotExpressible("mask or keypoint heads: only Faster R-CNN students are written")
    for part, cls in (
        ("box_pooler", ROIPooler),
        ("box_head", FastRCNNConvFCHead),
        ("box_predictor", FastRCNNOutputLayers),
    ):
        _expect(heads[part], cls, f"roi_heads.{part}")
    h, b = cfg.MODEL.ROI_HEADS, cfg.MODEL.ROI_BOX_HEAD
    h.NAME, b.NAME = "StandardROIHeads", "FastRCNNConvFCHead"
    h.NUM_CLASSES = heads["num_classes"]
    h.IN_FEATURES = list(heads["box_in_features"])
    _matcher(h, heads["proposal_matcher"])
    h.BATCH_SIZE_PER_IMAGE = heads["batch_size_per_image"]
    h.POSITIVE_FRACTION = heads["positive_fraction"]
    h.PROPOSAL_APPEND_GT = _arg(heads, "proposal_append_gt")
    pooler, head, pred = heads["box_pooler"], heads["box_head"], heads["box_predictor"]
    b.POOLER_RESOLUTION = pooler["output_size"]
    b.POOLER_SAMPLING_RATIO = pooler["sampling_ratio"]
    b.POOLER_TYPE = pooler["pooler_type"]
    convs, fcs = list(head["conv_dims"]), list(head["fc_dims"])
    if len(set(convs)) > 1 or len(set(fcs)) > 1:
        raise NotExpressible(f"box head dims {convs} / {fcs}: yacs has one CONV_DIM and FC_DIM")
    b.NUM_CONV, b.NUM_FC = len(convs), len(fcs)
    b.CONV_DIM = convs[0] if convs else b.CONV_DIM
    b.FC_DIM = fcs[0] if fcs else b.FC_DIM
    b.NORM = _arg(head, "conv_norm")
    h.SCORE_THRESH_TEST = _arg(pred, "test_score_thresh")
    h.NMS_THRESH_TEST = _arg(pred, "test_nms_thresh")
    cfg.TEST.DETECTIONS_PER_IMAGE = _arg(pred, "test_topk_per_image")
    b.BBOX_REG_WEIGHTS = tuple(pred["box2box_transform"]["weights"])
    b.CLS_AGNOSTIC_BBOX_REG = _arg(pred, "cls_agnostic_bbox_reg")
    b.SMOOTH_L1_BETA = _arg(pred, "smooth_l1_beta")
    b.BBOX_REG_LOSS_TYPE = _arg(pred, "box_reg_loss_type")
    for arg in ("use_fed_loss", "use_sigmoid_ce"):
        if _arg(pred, arg):
            raise NotExpressible(f"FastRCNNOutputLayers({arg}=True) is not written")


def _input(cfg, mapper: dict | None) -> None:
    """Test-time resizing: ``DefaultPredictor`` applies ``ResizeShortestEdge(MIN_SIZE_TEST,
    MAX_SIZE_TEST)``, or nothing when ``MIN_SIZE_TEST`` is 0."""
    from detectron2.data.transforms import ResizeShortestEdge

    augs = list((mapper or {}).get("augmentations", []))
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 0, 0
    if not augs:
        return
    if len(augs) > 1 or _cls(augs[0]) is not ResizeShortestEdge:
        raise NotExpressible(f"test augmentations {augs}: DefaultPredictor only resizes")
    aug = augs[0]
    size = _arg(aug, "short_edge_length")
    cfg.INPUT.MIN_SIZE_TEST = size if isinstance(size, int) else size[0]
    cfg.INPUT.MAX_SIZE_TEST = _arg(aug, "max_size")


def yacs_config(model: Any, test_mapper: Any = None):
    """The yacs ``CfgNode`` that builds the plain detector ``model`` (a LazyConfig node of a
    ``RetinaNet`` or a Faster R-CNN on a ResNet-FPN) with ``build_model``, and resizes inputs
    as ``test_mapper`` (the LazyConfig ``dataloader.test.mapper``) does.

    Raises:
        NotExpressible: a part of the model has no yacs equivalent (it names the part).
    """
    from detectron2.config import get_cfg
    from detectron2.modeling import GeneralizedRCNN, RetinaNet
    from omegaconf import DictConfig, OmegaConf

    def plain(x):
        return OmegaConf.to_container(x, resolve=True) if isinstance(x, DictConfig) else x

    node, mapper = plain(model), plain(test_mapper)
    cfg = get_cfg()
    arch = _cls(node)
    if arch not in (RetinaNet, GeneralizedRCNN):
        raise NotExpressible(f"{getattr(arch, '__name__', arch)}: only RetinaNet and Faster R-CNN")
    cfg.MODEL.META_ARCHITECTURE = arch.__name__
    _fpn(cfg, node["backbone"])
    if arch is RetinaNet:
        _retinanet(cfg, node)
    else:
        _rpn(cfg, node["proposal_generator"])
        _roi_heads(cfg, node["roi_heads"])
        cfg.MODEL.MASK_ON = False
    cfg.MODEL.PIXEL_MEAN = list(node["pixel_mean"])
    cfg.MODEL.PIXEL_STD = list(node["pixel_std"])
    cfg.INPUT.FORMAT = _arg(node, "input_format")
    _input(cfg, mapper)
    _match_types(cfg, get_cfg())
    return cfg


def _match_types(cfg, defaults) -> None:
    """Give numbers the type of detectron2's default for their key (``merge_from_file`` refuses
    ``0.0`` for an int key and ``0`` for a float one)."""
    for key, default in defaults.items():
        value = cfg[key]
        if isinstance(default, dict):
            _match_types(value, default)
        elif type(default) is float and type(value) is int:
            cfg[key] = float(value)
        elif type(default) is int and type(value) is float and value.is_integer():
            cfg[key] = int(value)


def _is_norm(module: nn.Module) -> bool:
    return hasattr(module, "running_var")


def embed_state(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state with ``state`` (a narrower model's) in the first entries of every
    tensor and zeros elsewhere; the padded entries of norms' running variances are 1.

    The one tensor ``model`` has that ``state`` lacks is a shortcut projection where the narrow
    block had an identity shortcut (equal in and out widths; the wide one's widths differ): it
    is set to the identity on the narrow channels (1x1 conv of eye, its norm the identity).

    Raises:
        ValueError: a key of ``state`` absent from ``model``, narrower in ``model``, or another
            key of ``model`` missing from ``state``.
    """
    out = {}
    target = model.state_dict()
    modules = dict(model.named_modules())
    extra = sorted(set(state) - set(target))
    if extra:
        raise ValueError(f"embed_state: keys {extra[:5]} are not in the wider model")
    for key, wide in target.items():
        owner, _, leaf = key.rpartition(".")
        if key in state:
            narrow = state[key]
            if narrow.dim() != wide.dim() or any(n > w for n, w in zip(narrow.shape, wide.shape)):
                raise ValueError(f"embed_state: {key} {tuple(narrow.shape)} > {tuple(wide.shape)}")
            fill = 1.0 if leaf == "running_var" else 0.0
            value = torch.full_like(wide, fill)
            value[tuple(slice(0, n) for n in narrow.shape)] = narrow
            out[key] = value
        elif owner.endswith("shortcut") or owner.endswith("shortcut.norm"):
            out[key] = _identity(wide, leaf, modules[owner])
        else:
            raise ValueError(f"embed_state: {key} of the wider model has no value in the state")
    return out


def _identity(wide: torch.Tensor, leaf: str, module: nn.Module) -> torch.Tensor:
    """A shortcut's tensor ``leaf`` that makes it pass its input channels through unchanged."""
    if _is_norm(module):
        eps = getattr(module, "eps", 0.0)
        # (x - 0) / sqrt(var + eps) * 1 + 0 with var = 1 - eps: x, to float rounding
        values = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0 - eps}
        return torch.full_like(wide, values.get(leaf, 0.0))
    if leaf != "weight" or wide.dim() != 4 or wide.shape[2:] != (1, 1):
        raise ValueError(f"embed_state: cannot make an identity of shortcut {leaf} {wide.shape}")
    eye = torch.zeros_like(wide)
    n = min(wide.shape[:2])
    eye[range(n), range(n), 0, 0] = 1.0
    return eye


def compare(model: nn.Module, wide: nn.Module, image: torch.Tensor) -> float:
    """How far the yacs-built ``wide`` is from the student ``model`` on ``image``: the largest
    relative difference of their backbone features, or ``inf`` when their input statistics
    differ or, given the same features, their detections differ at all.

    The embedding changes the backbone only; what follows it is the same modules with the same
    weights. Feeding both the student's features makes that part the same computation, so its
    detections must be equal bitwise, and near-equal scores cannot swap ranks and hide or
    fake a difference in the translated settings (thresholds, anchors, top-k).
    """
    from .export import max_output_difference

    same_input = all(
        torch.equal(getattr(model, k), getattr(wide, k)) for k in ("pixel_mean", "pixel_std")
    )
    if not same_input or model.input_format != wide.input_format:
        return float("inf")
    with torch.no_grad():
        x = model.preprocess_image([{"image": image}]).tensor
        want, got = model.backbone(x), wide.backbone(x)
        if want.keys() != got.keys():
            return float("inf")
        worst = max(((want[k] - got[k]).abs().max() / want[k].abs().max()).item() for k in want)
        wide.backbone.forward = lambda _: want  # the heads on the student's own features
        try:
            after = max_output_difference(model([{"image": image}]), wide([{"image": image}]))
        finally:
            del wide.backbone.forward
    return worst if after == 0.0 else float("inf")


def write_predictor_config(cfg: Any, model: nn.Module, weights: str, image: torch.Tensor) -> dict:
    """Write the yacs config (and, for a narrowed ResNet-18/34, the embedded weights) with which
    ``DefaultPredictor`` runs the plain student ``model`` of the LazyConfig ``cfg``, after
    checking that the yacs-built model gives ``model``'s detections on ``image``.

    Args:
        cfg: the (distilled) LazyConfig.
        model: its plain student in eval mode, with the weights of ``weights`` loaded.
        weights: the student checkpoint (``student.pth``); the files go beside it
            (``student_predictor.yaml`` and, when embedded, ``student_predictor.pth``).
        image: ``(3, H, W)`` input in the model's format for the check.

    Returns:
        ``{"config", "weights", "max_diff"}`` (``max_diff``: see :func:`compare`).

    Raises:
        NotExpressible: the student has no yacs form (nothing is written).
        RuntimeError: the yacs-built model differs (nothing is written).
    """
    import os

    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from .export import student_config

    test = cfg.dataloader.test if "dataloader" in cfg and "test" in cfg.dataloader else {}
    ycfg = yacs_config(student_config(cfg.model), test.get("mapper"))
    ycfg.MODEL.DEVICE = "cpu"
    wide = build_model(ycfg).eval()
    state = embed_state(model.state_dict(), wide)
    wide.load_state_dict(state)
    diff = compare(model, wide, image)
    if diff > 1e-4:
        raise RuntimeError(f"the yacs-built student differs from the student by {diff:.3g}")
    base = os.path.splitext(weights)[0] + "_predictor"
    same = all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    if same and len(state) == len(model.state_dict()):
        ycfg.MODEL.WEIGHTS = weights
    else:
        ycfg.MODEL.WEIGHTS = base + ".pth"
        torch.save({"model": state}, ycfg.MODEL.WEIGHTS)
    ycfg.MODEL.DEVICE = cfg.train.get("device", "cuda") if "train" in cfg else "cuda"
    with open(base + ".yaml", "w") as f:
        f.write(ycfg.dump())
    get_cfg().merge_from_file(base + ".yaml")  # what DefaultPredictor's users will do
    return {"config": base + ".yaml", "weights": ycfg.MODEL.WEIGHTS, "max_diff": diff}
