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
not; nested nodes become dicts. The meta-architectures read ``cfg.RELKD`` through
:mod:`relkd.meta_arch.yacs`; this module imports nothing of relkd, so that every layer may use it.
"""

from __future__ import annotations

from detectron2.config import CfgNode

# what a distilling model does with a non-finite distillation term (``DistillMixin``)
NONFINITE = ("raise", "skip")
# nonfinite="skip" stops the run after this many skipped iterations in a row: a broken input
# (NaN images) would otherwise skip every iteration and end as a finished run
MAX_CONSECUTIVE_SKIPS = 20


def add_relkd_config(cfg: CfgNode) -> None:
    """Add the ``RELKD`` node (in place) to a detectron2 yacs config.

    Keys:
        RELKD.TEACHER.CONFIG: the teacher's config, a yacs ``.yaml`` (read on top of
            ``get_cfg()``) or a LazyConfig ``.py`` whose ``model`` is the teacher.
        RELKD.TEACHER.WEIGHTS: the teacher checkpoint (loaded strictly).
        RELKD.TEACHER.DTYPE: the precision of the teacher's forward, ``""`` (the caller's),
            ``"fp32"``, ``"bf16"`` or ``"fp16"`` (``relkd.Teacher``'s ``dtype``).
        RELKD.TEACHER.LAYOUT: the teacher's convolution layout, ``""`` (channels-last with a
            half dtype, NCHW otherwise), ``"channels_last"`` or ``"nchw"`` (``relkd.Teacher``'s
            ``channels_last``: None, True, False).
        RELKD.DISTILLERS: distiller class names in ``relkd.distillers.DISTILLER_REGISTRY``,
            e.g. ``["FGFI", "DRKD"]``, or dotted names of importable distiller classes
            (``"my_pkg.kd.MyKD"``: a distiller of your own, imported when the model is built).
        RELKD.DISTILLER_ARGS.<NAME>: keyword arguments of distiller ``<NAME>`` (its class name,
            also when ``DISTILLERS`` gives a dotted name).
        RELKD.NONFINITE: ``"raise"`` or ``"skip"`` (see ``DistillMixin``).
        RELKD.MAX_CONSECUTIVE_SKIPS: with ``"skip"``, the most iterations skipped in a row.
        RELKD.GRAD_LOG_PERIOD: log the distillers' gradient ratios every this many iterations
            (0: never; see ``DistillRetinaNet``).
    """
    cfg.RELKD = CfgNode()
    cfg.RELKD.TEACHER = CfgNode()
    cfg.RELKD.TEACHER.CONFIG = ""
    cfg.RELKD.TEACHER.WEIGHTS = ""
    cfg.RELKD.TEACHER.DTYPE = ""
    cfg.RELKD.TEACHER.LAYOUT = ""
    cfg.RELKD.DISTILLERS = []
    cfg.RELKD.DISTILLER_ARGS = CfgNode(new_allowed=True)
    cfg.RELKD.NONFINITE = "raise"
    cfg.RELKD.MAX_CONSECUTIVE_SKIPS = MAX_CONSECUTIVE_SKIPS
    cfg.RELKD.GRAD_LOG_PERIOD = 0
