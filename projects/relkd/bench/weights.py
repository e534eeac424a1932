"""The weightings of ``tools/quality.py --loss-weight``: which overrides give a table row its
loss weights, and which rows a method gets."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from .methods import METHODS
from .tables import row_method

# --loss-weight: "config" keeps each config's hand weights; "auto" sets every distiller's
# loss_weight="auto"; "code" restores the official code's weights where a digits config changed
# them (Method.code_weights of .methods)
# "auto:R" is "auto" with target_ratio R (a row of its own, e.g. "fgfi@auto:4")
WEIGHTINGS = ("config", "auto", "code")


def weighting(text: str) -> str:
    """A ``--loss-weight`` value: one of :data:`WEIGHTINGS` or ``auto:R`` with a ratio R > 0."""
    name, _, ratio = text.partition(":")
    if text in WEIGHTINGS or (name == "auto" and ratio and _positive(ratio)):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a weighting: use one of {', '.join(WEIGHTINGS)} or auto:R (R > 0, "
        "the target ratio)"
    )


def _positive(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def weight_overrides(det: str, key: str, config: str) -> list[str]:
    """The overrides that give the row ``key`` its weights (none for ``config`` weights)."""
    from .runs import load_config

    method, how = row_method(key)
    if how == "code":
        return list(METHODS[method].code_weights[det])
    if how.startswith("auto"):
        ratio = how.partition(":")[2]
        out = []
        for i, distiller in enumerate(load_config(config).model.distillers):
            out.append(f"model.distillers.{i}.loss_weight=auto")
            # a plain "auto" row names the ratio it trains with, so the run's saved config
            # records it and a later change of a class default trains the row again instead
            # of reusing a run made at the old ratio
            out.append(f"model.distillers.{i}.target_ratio={ratio or target_ratio(distiller)}")
        return out
    return []


def target_ratio(distiller: Mapping) -> float:
    """The target ratio of ``loss_weight="auto"`` for a distiller's config node: its own
    ``target_ratio`` if set, else its class's ``default_target_ratio``."""
    from detectron2.utils.registry import locate

    if distiller.get("target_ratio") is not None:
        return float(distiller.target_ratio)
    cls = distiller["_target_"]
    return float((locate(cls) if isinstance(cls, str) else cls).default_target_ratio)


def row_keys(det: str, method: str, weightings: list[str]) -> list[str]:
    """The table rows of ``method`` on ``det``, one per weighting (``code`` only where the
    code's weights differ from the config's)."""
    keys = []
    for w in weightings:
        if w == "code" and det not in METHODS[method].code_weights:
            print(f"[quality] {det} {method}: the config's weights are the code's", flush=True)
            continue
        keys.append(method if w == "config" else f"{method}@{w}")
    return keys
