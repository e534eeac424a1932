"""A LazyConfig detector written as a yacs config (``relkd.export.predictor`` uses it to run a
student in detectron2's ``DefaultPredictor``, which builds models from yacs configs only).

Written for the detectors relkd distils whose backbone is a ResNet-FPN: ``RetinaNet``, Faster
R-CNN (``GeneralizedRCNN`` with an ``RPN`` and ``StandardROIHeads``) and Mask R-CNN (the same
with a ``MaskRCNNConvUpsampleHead``: ``MASK_ON = True``). A part with no yacs key raises
:class:`NotExpressible` naming it. ResNet-18/34 are written 64 wide,
the only width detectron2's yacs builder makes (``relkd.export.predictor.embed_state`` fits a
narrower one into it).

The sections are written by ``yacs_backbone`` (ResNet, FPN), ``yacs_heads`` (RetinaNet, RPN,
ROI heads, anchors) and ``yacs_input`` (test-time resizing), from the nodes that ``yacs_nodes``
reads; this module puts them together.
"""

from __future__ import annotations

from typing import Any

from .yacs_backbone import _fpn
from .yacs_heads import _retinanet, _roi_heads, _rpn
from .yacs_input import _input
from .yacs_nodes import NotExpressible, _arg, _cls

__all__ = ["NotExpressible", "yacs_config"]


def yacs_config(model: Any, test_mapper: Any = None, mask_format: str | None = None):
    """The yacs ``CfgNode`` that builds the plain detector ``model`` (a LazyConfig node of a
    ``RetinaNet``, a Faster R-CNN or a Mask R-CNN on a ResNet-FPN) with ``build_model``, and
    resizes inputs
    as ``test_mapper`` (the LazyConfig ``dataloader.test.mapper``) does. ``mask_format``: the
    ``INPUT.MASK_FORMAT`` the train mapper loads instance masks in (``"bitmask"`` for the RLE
    masks of ``digits_det_segm``), so that the yacs config trains on the same data; None keeps
    detectron2's ``"polygon"``.

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
    if mask_format is not None:
        cfg.INPUT.MASK_FORMAT = mask_format
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
