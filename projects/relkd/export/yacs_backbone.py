"""``MODEL.BACKBONE``, ``MODEL.RESNETS`` and ``MODEL.FPN`` of a ResNet-FPN backbone, for
``relkd.export.to_yacs``."""

from __future__ import annotations

from .yacs_nodes import NotExpressible, _arg, _cls, _expect, _norm


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
