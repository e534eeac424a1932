"""The yacs entry point, for codebases built on detectron2's ``DefaultTrainer``.

``add_relkd_config(cfg)`` adds ``cfg.RELKD``; with ``cfg.MODEL.META_ARCHITECTURE`` set to
``"DistillRCNN"`` or ``"DistillRetinaNet"`` (registered in ``META_ARCH_REGISTRY`` when ``relkd``
is imported), detectron2's ``build_model(cfg)`` builds the student from the usual ``MODEL.*``
keys and the teacher and distillers from ``RELKD.*``::

    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.merge_from_file("configs/my_student.yaml")
    cfg.MODEL.META_ARCHITECTURE = "DistillRetinaNet"
    cfg.RELKD.TEACHER.CONFIG = "configs/my_teacher.yaml"       # yacs .yaml or LazyConfig .py
    cfg.RELKD.TEACHER.WEIGHTS = "output/my_teacher/model_final.pth"
    cfg.RELKD.DISTILLERS = ["FGFI"]
    cfg.RELKD.DISTILLER_ARGS.FGFI = CfgNode({"FEATURES": ["p3", "p4"], "LOSS_WEIGHT": 0.01})

Distiller argument keys are the distillers' keyword arguments, upper-cased (yacs style) or
not; nested nodes become dicts.
"""

from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.utils.registry import Registry

from .teacher import Teacher, resolve_path

DISTILLER_REGISTRY = Registry("RELKD_DISTILLER")
DISTILLER_REGISTRY.__doc__ = "relkd distillers by class name, for ``cfg.RELKD.DISTILLERS``."


def _register_distillers() -> None:
    from .distillers import DRKD, FGFI, HGD, KDDETR, FeatureMSE

    for cls in (FeatureMSE, FGFI, DRKD, HGD, KDDETR):
        if cls.__name__ not in DISTILLER_REGISTRY:
            DISTILLER_REGISTRY.register(cls)


_register_distillers()


def add_relkd_config(cfg: CfgNode) -> None:
    """Add the ``RELKD`` node (in place) to a detectron2 yacs config.

    Keys:
        RELKD.TEACHER.CONFIG: the teacher's config, a yacs ``.yaml`` (read on top of
            ``get_cfg()``) or a LazyConfig ``.py`` whose ``model`` is the teacher.
        RELKD.TEACHER.WEIGHTS: the teacher checkpoint (loaded strictly).
        RELKD.DISTILLERS: distiller class names, e.g. ``["FGFI", "DRKD"]``.
        RELKD.DISTILLER_ARGS.<NAME>: keyword arguments of distiller ``<NAME>``.
        RELKD.NONFINITE: ``"raise"`` or ``"skip"`` (see ``DistillMixin``).
        RELKD.MAX_CONSECUTIVE_SKIPS: with ``"skip"``, the most iterations skipped in a row.
    """
    from .meta_arch.nonfinite import MAX_CONSECUTIVE_SKIPS  # here: meta_arch imports this module

    cfg.RELKD = CfgNode()
    cfg.RELKD.TEACHER = CfgNode()
    cfg.RELKD.TEACHER.CONFIG = ""
    cfg.RELKD.TEACHER.WEIGHTS = ""
    cfg.RELKD.DISTILLERS = []
    cfg.RELKD.DISTILLER_ARGS = CfgNode(new_allowed=True)
    cfg.RELKD.NONFINITE = "raise"
    cfg.RELKD.MAX_CONSECUTIVE_SKIPS = MAX_CONSECUTIVE_SKIPS


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
        raise ValueError("cfg.RELKD.TEACHER.WEIGHTS is empty: a teacher needs a checkpoint")
    return Teacher(config=resolve_path(node.CONFIG), weights=node.WEIGHTS)


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
