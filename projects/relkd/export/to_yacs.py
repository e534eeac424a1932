"""A LazyConfig detector written as a yacs config (``relkd.export.predictor`` uses it to run a
student in detectron2's ``DefaultPredictor``, which builds models from yacs configs only).

Written for the detectors relkd distils whose backbone is a ResNet-FPN: ``RetinaNet``, Faster
R-CNN (``GeneralizedRCNN`` with an ``RPN`` and ``StandardROIHeads``) and Mask R-CNN (the same
with a ``MaskRCNNConvUpsampleHead``: ``MASK_ON = True``). A part with no yacs key raises
:class:`NotExpressible` naming it. ResNet-18/34 are written 64 wide,
the only width detectron2's yacs builder makes (``relkd.export.predictor.embed_state`` fits a
narrower one into it).
"""

from __future__ import annotations

import inspect
from typing import Any


class NotExpressible(ValueError):
    """The student has no yacs equivalent; the message names what is missing."""


def _cls(node: dict) -> type:
    target = node.get("_target_") if isinstance(node, dict) else None
    if isinstance(target, str):
        from detectron2.utils.registry import locate

        target = locate(target)
    return target


def _norm(node: dict, name: str) -> str | None:
    """A norm argument as yacs takes it: a name (``"BN"``, ``"GN"``, ``""`` or ``None`` for
    none). A callable (the LSJ configs' ``lambda c: NaiveSyncBatchNorm(c, ...)``) has no yacs
    form."""
    value = _arg(node, name)
    if value is not None and not isinstance(value, str):
        raise NotExpressible(f"{name}={value!r}: a yacs NORM is a name ('BN', 'GN', ...)")
    return value


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
    f.NORM = _norm(backbone, "norm")
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
    r.NORM = _norm(head, "norm")
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
    if heads.get("keypoint_in_features"):
        raise NotExpressible("keypoint heads: only Faster and Mask R-CNN students are written")
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
    b.NORM = _norm(head, "conv_norm")
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
    cfg.MODEL.MASK_ON = bool(heads.get("mask_in_features"))
    if cfg.MODEL.MASK_ON:
        _mask_head(cfg, heads)


def _mask_head(cfg, heads: dict) -> None:
    """``MODEL.ROI_MASK_HEAD`` of a ``MaskRCNNConvUpsampleHead``: yacs pools the masks from the
    box head's features (``ROI_HEADS.IN_FEATURES``) and gives every conv, the deconvolution
    included, one width ``CONV_DIM``."""
    from detectron2.modeling.poolers import ROIPooler
    from detectron2.modeling.roi_heads import MaskRCNNConvUpsampleHead

    pooler, head = heads["mask_pooler"], heads["mask_head"]
    _expect(pooler, ROIPooler, "roi_heads.mask_pooler")
    _expect(head, MaskRCNNConvUpsampleHead, "roi_heads.mask_head")
    if list(heads["mask_in_features"]) != list(heads["box_in_features"]):
        raise NotExpressible(
            f"mask features {list(heads['mask_in_features'])} differ from the box head's: yacs "
            "pools both from ROI_HEADS.IN_FEATURES"
        )
    if (_arg(pooler, "canonical_box_size"), _arg(pooler, "canonical_level")) != (224, 4):
        raise NotExpressible("the mask pooler's canonical box size and level have no yacs key")
    dims = list(head["conv_dims"])
    if len(set(dims)) > 1:
        raise NotExpressible(f"mask head conv_dims {dims}: yacs has one CONV_DIM")
    if _arg(head, "loss_weight") != 1.0:
        raise NotExpressible("the mask head's loss_weight has no yacs key")
    m = cfg.MODEL.ROI_MASK_HEAD
    m.NAME = "MaskRCNNConvUpsampleHead"
    m.POOLER_RESOLUTION = pooler["output_size"]
    m.POOLER_SAMPLING_RATIO = pooler["sampling_ratio"]
    m.POOLER_TYPE = pooler["pooler_type"]
    m.NUM_CONV = len(dims) - 1  # the last width is the deconvolution's
    m.CONV_DIM = dims[0]
    m.NORM = _norm(head, "conv_norm")
    # one mask per class, or one for all (a single output channel)
    m.CLS_AGNOSTIC_MASK = head["num_classes"] == 1


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
    ``RetinaNet``, a Faster R-CNN or a Mask R-CNN on a ResNet-FPN) with ``build_model``, and
    resizes inputs
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
        raise NotExpressible(
            f"{getattr(arch, '__name__', arch)}: only RetinaNet and Faster R-CNN (or Mask R-CNN)"
        )
    cfg.MODEL.META_ARCHITECTURE = arch.__name__
    _fpn(cfg, node["backbone"])
    if arch is RetinaNet:
        _retinanet(cfg, node)
    else:
        _rpn(cfg, node["proposal_generator"])
        _roi_heads(cfg, node["roi_heads"])  # MASK_ON where the heads have a mask head
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
