"""The distillation recipes the tools know: every distiller in ``DISTILLER_REGISTRY`` that has
digits configs (``configs/digits/<detector>_R18_<name>.py``, ``<name>`` the default of its
``name`` argument), with what :data:`RECIPES` adds for relkd's own: each method's label, the
official code's loss weights where a digits config changed them, its teacher's family when that
is not the student's, and how ``tools/quality.py`` and ``tools/demo.py`` use it.

``tools/quality.py``, the quality table (:mod:`.tables`), its weightings (:mod:`.weights`) and
``tools/demo.py`` read :data:`METHODS`; a registered distiller with digits configs is a row they
can run.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..distillers import DISTILLER_REGISTRY
from .runs import REPO

# the detector families of the digits configs, with their names in tables
DETECTORS = {
    "retinanet": "RetinaNet",
    "faster_rcnn": "Faster R-CNN",
    "dab_detr": "DAB-DETR",
    "mask_rcnn": "Mask R-CNN",
}
CNN = ("retinanet", "faster_rcnn")
# the CNN methods' detectors: Mask R-CNN takes each method's Faster R-CNN distillers
CNN_MASK = (*CNN, "mask_rcnn")


@dataclass(frozen=True)
class Method:
    """One distillation recipe of the digits configs.

    Attributes:
        label: its name in tables and printouts.
        configs: ``{detector: config name}``, the student's digits config
            (``configs/digits/<name>.py``) on each detector the method applies to.
        code_weights: ``{detector: overrides}`` that restore the official code's loss weights
            where that detector's digits config changed them (docs/distillers.md, "digits_det
            weights"); a detector absent here trains with the code's weights already.
        teacher: the family of its teacher when that is not the student's (its table row's
            teacher is the row ``teacher_<family>``, trained at that family's config schedule);
            ``None``: the student's own family.
        cost: rough cost of a training step against a plain one (one thread,
            ``tools/benchmark.py``), to start the longest runs first.
        default: in ``tools/quality.py``'s default ``--methods`` (the published methods).
        demo: offered by ``tools/demo.py --method``.
    """

    label: str
    configs: Mapping[str, str]
    code_weights: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    teacher: str | None = None
    cost: float = 1.0
    default: bool = False
    demo: bool = False


def _digits(name: str, *detectors: str) -> dict[str, str]:
    """``{detector: "<detector>_R18_<name>"}``, the digits configs' naming."""
    return {det: f"{det}_R18_{name}" for det in detectors}


_FGFI_CODE = ("model.distillers.0.loss_weight=0.01",)


def _weight(value: float) -> tuple[str, ...]:
    """The override that sets the one distiller's ``loss_weight`` to ``value``."""
    return (f"model.distillers.0.loss_weight={value}",)


# DRKD's code weights on RetinaNet (the flagged ones); its Faster R-CNN config, like KD-DETR's,
# has the code's weights already, and HGD-R and FeatureMSE have no code weights
_DRKD_CODE = (
    "model.distillers.0.pixel_weight=4e-3",
    "model.distillers.0.relation_weight=5e-3",
    "model.distillers.0.instance_weight=6e-3",
)

# relkd's recipes, in the order of tools/quality.py's --methods choices: those of one registered
# distiller (keyed by its name) and the compositions and variants below them
RECIPES: dict[str, Method] = {
    "feature_mse": Method("FeatureMSE", _digits("feature_mse", *CNN_MASK), demo=True),
    "fgfi": Method(
        "FGFI",
        _digits("fgfi", *CNN_MASK),
        code_weights={det: _FGFI_CODE for det in CNN_MASK},
        default=True,
        demo=True,
    ),
    "drkd": Method(
        "DRKD",
        _digits("drkd", *CNN_MASK),
        code_weights={"retinanet": _DRKD_CODE},
        cost=1.6,
        default=True,
        demo=True,
    ),
    "hgd": Method("HGD-R", _digits("hgd", *CNN_MASK), default=True, demo=True),
    "drkd_hgd": Method("DRKD + HGD-R", _digits("drkd_hgd", *CNN), cost=1.7),
    # DRKD as the official single-stage file runs it: the relation term alone, RetinaNet only
    "drkd_released": Method(
        "DRKD, released (relation term)", _digits("drkd_released", "retinanet")
    ),
    # the RetinaNet FGFI recipe distilled from the Faster R-CNN teacher
    "fgfi_frcnn_teacher": Method(
        "FGFI, Faster R-CNN teacher",
        _digits("fgfi_frcnn_teacher", "retinanet"),
        code_weights={"retinanet": _FGFI_CODE},
        teacher="faster_rcnn",
    ),
    "kd_detr": Method("KD-DETR", _digits("kd_detr", "dab_detr"), cost=2.0, default=True),
    # the feature methods users compare against; their digits weights were scaled from the
    # official ones by the start-of-training gradient ratio (each config's docstring)
    "pkd": Method("PKD", _digits("pkd", *CNN_MASK), code_weights={"retinanet": _weight(10.0)}),
    "cwd": Method(
        "CWD", _digits("cwd", *CNN_MASK), code_weights={det: _weight(10.0) for det in CNN_MASK}
    ),
    "mgd": Method(
        "MGD",
        _digits("mgd", *CNN_MASK),
        code_weights={"retinanet": _weight(2e-5), **{d: _weight(5e-7) for d in CNN_MASK[1:]}},
        cost=1.2,
    ),
    # FGD's digits configs keep the official part weights; RetinaNet's scales them all by 2e-3
    "fgd": Method("FGD", _digits("fgd", *CNN_MASK), code_weights={"retinanet": _weight(1.0)}),
    # CrossKD: the paper's weights (1) restored on RetinaNet, whose digits config sets
    # loss_weight 16; the Faster R-CNN variant is relkd's design, at 1 already
    "crosskd": Method(
        "CrossKD", _digits("crosskd", *CNN_MASK), code_weights={"retinanet": _weight(1.0)}
    ),
}


def recipe_name(cls: type) -> str:
    """A distiller class's recipe name: the default of its ``name`` argument (``"fgfi"``), else
    its class name in lower case."""
    param = inspect.signature(cls).parameters.get("name")
    default = param.default if param is not None else None
    return default if isinstance(default, str) else cls.__name__.lower()


def registered_methods(recipes: Mapping[str, Method] = RECIPES) -> dict[str, Method]:
    """``recipes`` followed by a row for every registered distiller that has digits configs
    and no recipe: its class name as label, the configs found."""
    out = dict(recipes)
    for cls_name, cls in DISTILLER_REGISTRY:
        name = recipe_name(cls)
        configs = {
            det: f"{det}_R18_{name}"
            for det in DETECTORS
            if os.path.exists(os.path.join(REPO, "configs", "digits", f"{det}_R18_{name}.py"))
        }
        if name not in out and configs:
            out[name] = Method(cls_name, configs)
    return out


METHODS: dict[str, Method] = registered_methods()


def applies(method: str, det: str) -> bool:
    """Whether ``method`` has a digits config for the detector ``det``."""
    return det in METHODS[method].configs


def student_config(det: str, method: str) -> str:
    """The digits config of ``det``'s student: the baseline (``method == "baseline"``) or the
    one distilled with ``method``, relative to the repository root."""
    name = f"{det}_R18_student" if method == "baseline" else METHODS[method].configs[det]
    return f"configs/digits/{name}.py"
