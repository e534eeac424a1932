"""The embedded ``digits_det`` dataset."""

from .digits_det import CLASS_NAMES, DigitsDetSpec, render_image
from .digits_segm import render_image_with_masks
from .register import build_digits_det, build_digits_det_segm, default_root, register_digits_det

__all__ = [
    "CLASS_NAMES",
    "DigitsDetSpec",
    "build_digits_det",
    "build_digits_det_segm",
    "default_root",
    "register_digits_det",
    "render_image",
    "render_image_with_masks",
]
