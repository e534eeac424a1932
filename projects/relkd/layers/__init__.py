"""Trainable distillation modules (adapters, relation units)."""

from .adapters import conv_adapter

__all__ = ["conv_adapter"]
