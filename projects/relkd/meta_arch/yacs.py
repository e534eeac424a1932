"""``cfg.RELKD`` (:mod:`relkd.config`) turned into a distilling meta-architecture's teacher,
distillers and policies, for detectron2's yacs ``build_model``."""

from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.utils.registry import Registry

from ..distillers import CWD, DRKD, FGFI, HGD, KDDETR, MGD, PKD, FeatureMSE
from ..loading import TeacherLoadError, resolve_path
from ..teacher import Teacher

DISTILLER_REGISTRY = Registry("RELKD_DISTILLER")
DISTILLER_REGISTRY.__doc__ = "relkd distillers by class name, for ``cfg.RELKD.DISTILLERS``."
for _cls in (FeatureMSE, FGFI, DRKD, HGD, KDDETR, PKD, CWD, MGD):
    DISTILLER_REGISTRY.register(_cls)


def _plain(value):
    """yacs values as plain Python (CfgNode -> dict, tuples kept)."""
    if isinstance(value, CfgNode):
        return {k.lower(): _plain(v) for k, v in value.items()}
    return value


def build_teacher(cfg: CfgNode) -> Teacher:
    """The ``Teacher`` named by ``cfg.RELKD.TEACHER`` (its weights load at first use)."""
    node = cfg.RELKD.TEACHER
    if not node.CONFIG:
        raise ValueError("cfg.RELKD.TEACHER.CONFIG is empty: name the teacher's config file")
    if not node.WEIGHTS:
        raise TeacherLoadError(
            f"cfg.RELKD.TEACHER.WEIGHTS is empty (teacher config {node.CONFIG!r}): the teacher "
            "would be a random network; set it to the trained teacher's checkpoint"
        )
    layouts = {"": None, "channels_last": True, "nchw": False}
    if node.LAYOUT not in layouts:
        raise ValueError(
            f"cfg.RELKD.TEACHER.LAYOUT must be one of {sorted(layouts)}, got {node.LAYOUT!r}"
        )
    return Teacher(
        config=resolve_path(node.CONFIG),
        weights=node.WEIGHTS,
        dtype=node.DTYPE or None,
        channels_last=layouts[node.LAYOUT],
    )


def build_distillers(cfg: CfgNode) -> list:
    """The distillers named by ``cfg.RELKD.DISTILLERS``, with their ``DISTILLER_ARGS``."""
    names = list(cfg.RELKD.DISTILLERS)
    known = sorted(k for k, _ in DISTILLER_REGISTRY)
    unknown = [n for n in names if n not in DISTILLER_REGISTRY]
    if unknown:
        raise ValueError(f"cfg.RELKD.DISTILLERS: unknown distiller(s) {unknown}; known: {known}")
    stray = [k for k in cfg.RELKD.DISTILLER_ARGS if k not in names]
    if stray:
        raise ValueError(
            f"cfg.RELKD.DISTILLER_ARGS has arguments for {stray}, which cfg.RELKD.DISTILLERS "
            f"{names} does not list"
        )
    out = []
    for name in names:
        kwargs = _plain(cfg.RELKD.DISTILLER_ARGS.get(name, CfgNode()))
        try:
            out.append(DISTILLER_REGISTRY.get(name)(**kwargs))
        except TypeError as e:
            raise TypeError(f"cfg.RELKD.DISTILLER_ARGS.{name}: {e}") from e
    return out


def relkd_kwargs(cfg: CfgNode) -> dict:
    """The ``teacher``, ``distillers``, ``nonfinite`` and ``max_consecutive_skips`` arguments
    of a distilling meta-architecture, from a yacs config with ``RELKD``."""
    if "RELKD" not in cfg:
        raise KeyError(
            f"cfg.MODEL.META_ARCHITECTURE={cfg.MODEL.META_ARCHITECTURE!r} needs cfg.RELKD: call "
            "relkd.add_relkd_config(cfg) before merging your config"
        )
    return {
        "teacher": build_teacher(cfg),
        "distillers": build_distillers(cfg),
        "nonfinite": cfg.RELKD.NONFINITE,
        "max_consecutive_skips": cfg.RELKD.MAX_CONSECUTIVE_SKIPS,
    }
