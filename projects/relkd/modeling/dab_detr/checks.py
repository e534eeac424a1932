"""Argument checks of ``DABDETR``: each refuses a bad value by name, before anything is built."""

from __future__ import annotations

from detectron2.layers import ShapeSpec


def check_arguments(shapes: dict[str, ShapeSpec], in_feature: str, d_model: int, nhead: int):
    """Raise ``ValueError`` unless the backbone (output ``shapes``) produces ``in_feature`` and
    ``d_model`` is divisible by 4 and by ``2 * nhead``."""
    if in_feature not in shapes:
        raise ValueError(
            f"DABDETR: the backbone produces no feature {in_feature!r}; available: "
            f"{sorted(shapes)}"
        )
    if d_model % (2 * nhead) or d_model % 4:
        raise ValueError(
            f"DABDETR: d_model must be divisible by 4 and by 2 * nhead; got d_model="
            f"{d_model}, nhead={nhead}"
        )
