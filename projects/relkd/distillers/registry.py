"""``DISTILLER_REGISTRY``: distillers by class name, as detectron2 registers meta-architectures.

relkd's distillers register themselves where they are defined; a distiller in user code does
the same, and ``cfg.RELKD.DISTILLERS`` (yacs) then names it once its module is imported::

    from relkd.distillers import DISTILLER_REGISTRY, Distiller

    @DISTILLER_REGISTRY.register()
    class MyKD(Distiller):
        ...

A LazyConfig names the class itself (``L(MyKD)(...)``), as it does any detectron2 object.
"""

from __future__ import annotations

from detectron2.utils.registry import Registry, locate

DISTILLER_REGISTRY = Registry("RELKD_DISTILLER")
DISTILLER_REGISTRY.__doc__ = """relkd distillers by class name, for ``cfg.RELKD.DISTILLERS``."""


def find_distiller(name: str) -> type:
    """The registered distiller ``name``; a dotted name (``"my_pkg.kd.MyKD"``) not registered
    yet is imported first, so that a yacs config can name a user's distiller without code that
    imports it. Raises a KeyError naming the registered distillers otherwise."""
    if name not in DISTILLER_REGISTRY and "." in name:
        cls = locate(name)  # importing its module registers it when it uses the decorator
        if cls is None:
            raise KeyError(f"distiller {name!r}: no such importable class")
        from .base import Distiller

        if not (isinstance(cls, type) and issubclass(cls, Distiller)):
            raise KeyError(f"distiller {name!r} is {cls!r}, not a relkd Distiller subclass")
        return cls
    if name not in DISTILLER_REGISTRY:
        known = sorted(k for k, _ in DISTILLER_REGISTRY)
        raise KeyError(
            f"unknown distiller {name!r}; registered: {known}. A distiller of your own: "
            "decorate its class with @relkd.distillers.DISTILLER_REGISTRY.register() and import "
            "its module before building the model, or give its full dotted name"
        )
    return DISTILLER_REGISTRY.get(name)
