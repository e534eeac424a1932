"""Trainable distillation modules (adapters, relation units) and box helpers."""

from .adapters import conv_adapter
from .context import GlobalContext
from .glore import GloRe
from .norm import SafeBatchNorm2d
from .relation import InstanceRelation

__all__ = ["GloRe", "GlobalContext", "InstanceRelation", "SafeBatchNorm2d", "conv_adapter"]
