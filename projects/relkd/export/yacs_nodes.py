"""Reading a LazyConfig node for ``relkd.export.to_yacs``: its class, an argument or that
argument's default, a norm as a yacs name; and :class:`NotExpressible`, the error of a part with
no yacs equivalent."""

from __future__ import annotations

import inspect
from typing import Any


class NotExpressible(ValueError):
    """The student has no yacs equivalent; the message names what is missing."""


def _cls(node: dict) -> type:
    target = node.get("_target_") if isinstance(node, dict) else None
    if isinstance(target, str):
        from detectron2.utils.registry import locate

        target = locate(target)
    return target


def _norm(node: dict, name: str) -> str | None:
    """A norm argument as yacs takes it: a name (``"BN"``, ``"GN"``, ``""`` or ``None`` for
    none). A callable (the LSJ configs' ``lambda c: NaiveSyncBatchNorm(c, ...)``) has no yacs
    form."""
    value = _arg(node, name)
    if value is not None and not isinstance(value, str):
        raise NotExpressible(f"{name}={value!r}: a yacs NORM is a name ('BN', 'GN', ...)")
    return value


def _arg(node: dict, name: str) -> Any:
    """``node[name]``, or the default of that argument of the node's class."""
    if name in node:
        return node[name]
    cls = _cls(node)
    # arguments that a class passes on in **kwargs are declared by a base class
    for base in cls.__mro__ if isinstance(cls, type) else (cls,):
        param = inspect.signature(base).parameters.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            return param.default
    raise NotExpressible(f"{getattr(cls, '__name__', cls)}: argument {name!r} has no value")


def _expect(node: dict, cls: type, where: str) -> None:
    if _cls(node) is not cls:
        got = getattr(_cls(node), "__name__", node.get("_target_"))
        raise NotExpressible(f"{where} is {got}: a yacs config builds only {cls.__name__} there")
