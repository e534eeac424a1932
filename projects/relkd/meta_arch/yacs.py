"""``cfg.RELKD`` (:mod:`relkd.config`) turned into a distilling meta-architecture's teacher,
distillers and policies, for detectron2's yacs ``build_model``."""

from __future__ import annotations

from detectron2.config import CfgNode

from ..distillers import DISTILLER_REGISTRY, find_distiller
from ..loading import TeacherLoadError, resolve_path
from ..teacher import Teacher

__all__ = ["DISTILLER_REGISTRY", "build_distillers", "build_teacher", "relkd_kwargs"]


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
    """The distillers named by ``cfg.RELKD.DISTILLERS`` (registered class names, or dotted
    names of importable classes: :func:`relkd.distillers.find_distiller`), with their
    ``DISTILLER_ARGS`` (under the class name, also for a dotted name)."""
    names = list(cfg.RELKD.DISTILLERS)
    classes = {}
    for name in names:
        try:
            classes[name] = find_distiller(name)
        except (KeyError, ImportError) as e:
            raise ValueError(f"cfg.RELKD.DISTILLERS: {e}") from e
    # a dotted name's arguments sit under its class name (yacs keys hold no dots)
    keys = {name: name.rpartition(".")[2] for name in names}
    stray = [k for k in cfg.RELKD.DISTILLER_ARGS if k not in keys.values()]
    if stray:
        raise ValueError(
            f"cfg.RELKD.DISTILLER_ARGS has arguments for {stray}, which cfg.RELKD.DISTILLERS "
            f"{names} does not list"
        )
    out = []
    for name in names:
        kwargs = _plain(cfg.RELKD.DISTILLER_ARGS.get(keys[name], CfgNode()))
        try:
            out.append(classes[name](**kwargs))
        except TypeError as e:
            raise TypeError(f"cfg.RELKD.DISTILLER_ARGS.{keys[name]}: {e}") from e
    return out


def relkd_kwargs(cfg: CfgNode) -> dict:
    """The ``teacher``, ``distillers``, ``nonfinite``, ``max_consecutive_skips`` and
    ``grad_log_period`` arguments of a distilling meta-architecture, from a yacs config with
    ``RELKD``."""
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
        "grad_log_period": cfg.RELKD.GRAD_LOG_PERIOD,
    }
