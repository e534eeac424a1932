"""The heads' sections for ``relkd.export.to_yacs``: ``MODEL.RETINANET``, ``MODEL.RPN``,
``MODEL.ROI_HEADS``, ``MODEL.ROI_BOX_HEAD``, ``MODEL.ROI_MASK_HEAD`` and the anchors and
matchers they share (``MODEL.ANCHOR_GENERATOR``, ``IOU_THRESHOLDS`` / ``IOU_LABELS``)."""

from __future__ import annotations

from .yacs_nodes import NotExpressible, _arg, _expect, _norm


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
