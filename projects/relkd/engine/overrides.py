"""Command-line ``key=value`` overrides checked against the config before they apply.

``LazyConfig.apply_overrides`` adds any key it is given: ``train.max_iters=1`` (a typo) starts
the configured 1,000-iteration run, and ``train.max_iter=abc`` fails later without naming the
key. Here a key must exist in the config, or be an argument of the callable a ``LazyCall``
node builds (its defaults are not in the node); a number in the config takes only a number
(and a distiller's ``loss_weight`` also ``auto``).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence

from detectron2.config import LazyConfig
from detectron2.utils.registry import locate
from omegaconf import DictConfig, ListConfig, OmegaConf

# keys of ``train`` that relkd's loop reads with a default when a config leaves them out
OPTIONAL_TRAIN_KEYS = ("stop_iter", "clip_grad_norm", "teacher_preflight")


def _signature_names(fn) -> tuple[set[str], bool]:
    """Parameter names of ``fn`` and whether it also takes ``**kwargs``."""
    params = inspect.signature(fn).parameters.values()
    var_kw = [p.kind is inspect.Parameter.VAR_KEYWORD for p in params]
    return {p.name for p, kw in zip(params, var_kw) if not kw}, any(var_kw)


def _arguments(node) -> set[str] | None:
    """The keyword arguments the ``LazyCall`` ``node`` may take (``None``: any). For a class
    whose ``__init__`` passes ``**kwargs`` on (relkd's distilling meta-architectures pass them
    to the detector's), the arguments of the next ``__init__`` up the MRO count too."""
    target = node.get("_target_")
    if target is None:
        return set()
    try:
        if isinstance(target, str):
            target = locate(target)
        if not inspect.isclass(target):
            names, more = _signature_names(target)
            return None if more else names
        out: set[str] = set()
        for cls in target.__mro__:
            if "__init__" not in vars(cls):
                continue
            names, more = _signature_names(vars(cls)["__init__"])
            out |= names - {"self"}
            if not more:
                return out
        return None
    except (TypeError, ValueError, ImportError, AttributeError):
        return None


def _refuse(key: str, parent: str, part: str, choices) -> ValueError:
    names = sorted({str(c) for c in choices})
    close = difflib.get_close_matches(part, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    where = f"{parent!r} has" if parent else "the config has"
    return ValueError(f"Override {key!r}: {where} no key {part!r}{hint}")


def apply_overrides(cfg, overrides: Sequence[str]):
    """``LazyConfig.apply_overrides`` after :func:`check_overrides`; then raise
    ``ValueError`` for an override that put a non-number where the config held a number
    (checked on the parsed value, as detectron2's override grammar parsed it)."""
    numbers = {}
    for key in check_overrides(cfg, overrides):
        old = OmegaConf.select(cfg, key, default=None)
        if isinstance(old, (int, float)) and not isinstance(old, bool):
            numbers[key] = old
    cfg = LazyConfig.apply_overrides(cfg, list(overrides))
    for key, old in numbers.items():
        new = OmegaConf.select(cfg, key, default=None)
        if key.rsplit(".", 1)[-1] == "loss_weight" and new == "auto":
            continue  # a distiller's weight is a number or "auto" (relkd.distillers.Distiller)
        if new is not None and (isinstance(new, bool) or not isinstance(new, (int, float))):
            raise ValueError(f"Override {key}={new!r}: {key} is a number ({old} in the config)")
    return cfg


def check_overrides(cfg, overrides: Sequence[str]) -> list[str]:
    """Raise ``ValueError`` for the first override whose key the config does not have (with
    close matches); return the keys."""
    keys = []
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep:
            raise ValueError(f"Override {item!r} is not of the form key=value")
        node = cfg
        parts = key.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, (ListConfig, list)):
                if not (part.isdigit() and int(part) < len(node)):
                    raise ValueError(
                        f"Override {key!r}: {'.'.join(parts[:i])} is a list of {len(node)}, "
                        f"{part!r} is not an index of it"
                    )
                node = node[int(part)]
                continue
            if not isinstance(node, (DictConfig, Mapping)):
                raise ValueError(f"Override {key!r}: {'.'.join(parts[:i])} is not a config node")
            if part in node:
                node = node[part] if not last else None
                continue
            if key == f"train.{part}" and part in OPTIONAL_TRAIN_KEYS:
                break
            allowed = _arguments(node)
            if last and (allowed is None or part in allowed):
                break  # an argument the node leaves at its default
            raise _refuse(key, ".".join(parts[:i]), part, list(node.keys()) + sorted(allowed or ()))
        keys.append(key)
    return keys
