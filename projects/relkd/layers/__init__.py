"""Trainable distillation modules (adapters, relation units)."""

from .adapters import conv_adapter
from .glore import GloRe
from .relation import InstanceRelation

__all__ = ["GloRe", "InstanceRelation", "conv_adapter"]
