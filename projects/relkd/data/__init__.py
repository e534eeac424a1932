"""The embedded ``digits_det`` dataset."""

from .digits_det import CLASS_NAMES, DigitsDetSpec, render_image
from .register import build_digits_det, default_root, register_digits_det

__all__ = [
    "CLASS_NAMES",
    "DigitsDetSpec",
    "build_digits_det",
    "default_root",
    "register_digits_det",
    "render_image",
]
