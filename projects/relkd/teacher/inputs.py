"""The student's batch as the teacher's input.

A distilling model preprocesses each batch once, for the student: normalised with the student's
pixel statistics, in its channel order, zero-padded to its size divisibility. The teacher takes
that batch re-normalised with its own statistics, in its own channel order, zero outside each
image and padded as its backbone needs (:class:`StudentInput`); no image is read twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.resize import valid_mask


@dataclass(frozen=True)
class InputSpec:
    """What a detector's input is: the per-channel pixel statistics it normalises with and
    its channel order (``"BGR"``, ``"RGB"``; ``None`` when the model does not say)."""

    pixel_mean: tuple[float, ...]
    pixel_std: tuple[float, ...]
    input_format: str | None = None

    @classmethod
    def of(cls, model: nn.Module) -> InputSpec:
        """The spec of a detectron2 detector (its ``pixel_mean``, ``pixel_std`` buffers and
        ``input_format``)."""
        return cls(
            tuple(model.pixel_mean.flatten().tolist()),
            tuple(model.pixel_std.flatten().tolist()),
            getattr(model, "input_format", None),
        )

    def stats(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)`` as ``(3, 1, 1)`` float32 tensors on ``device``."""
        return tuple(
            torch.tensor(v, dtype=torch.float32, device=device).view(-1, 1, 1)
            for v in (self.pixel_mean, self.pixel_std)
        )


def pad_for_backbone(x: torch.Tensor, backbone: nn.Module) -> torch.Tensor:
    """``x`` (``(B, C, H, W)``) zero-padded at the bottom and right to ``backbone``'s size
    divisibility and, where its padding constraints set one, its square size."""
    div = backbone.size_divisibility
    square = getattr(backbone, "padding_constraints", {}).get("square_size", 0)
    h, w = x.shape[-2:]
    if div > 1:
        h, w = -(-h // div) * div, -(-w // div) * div
    if square:
        h, w = max(h, square), max(w, square)
    if (h, w) != tuple(x.shape[-2:]):
        x = F.pad(x, (0, w - x.shape[-1], 0, h - x.shape[-2]))
    return x


class StudentInput:
    """Batches preprocessed for the student, turned into the teacher model's input.

    Args:
        spec: the student's input spec: what its batches are normalised with.
        model: the teacher detector (its ``pixel_mean``, ``pixel_std``, ``input_format`` and
            ``backbone``).
    """

    def __init__(self, spec: InputSpec, model: nn.Module):
        self.spec = spec
        self.model = model
        # the teacher's statistics are config, not loaded weights (relkd.loading): fixed here
        self.same = spec == InputSpec.of(model)
        self._stats = spec.stats(model.pixel_mean.device)

    def to(self, device: torch.device) -> None:
        """Move the student's statistics to ``device`` (the teacher's)."""
        if self._stats[0].device != device:
            self._stats = tuple(t.to(device) for t in self._stats)

    def image(self, image: torch.Tensor) -> torch.Tensor:
        """One raw ``(3, H, W)`` image in the student's channel order, in the teacher's."""
        student = self.spec.input_format
        if getattr(self.model, "input_format", student) != student:
            return image.flip(0)  # RGB <-> BGR
        return image

    def batch(self, images: torch.Tensor, image_sizes: list[tuple[int, int]]) -> torch.Tensor:
        """The student's normalised, padded batch as the teacher's input.

        Args:
            images: ``(B, 3, H, W)`` normalised with :attr:`spec`, zero-padded.
            image_sizes: the unpadded ``(h, w)`` of each image.

        Returns:
            ``(B, 3, H', W')`` normalised with the teacher's statistics and in its channel
            order, zero outside each image, padded to the teacher's size divisibility;
            ``images`` itself when both models take the same input and need no more padding.
        """
        t, x = self.model, images
        if not self.same:
            mean, std = self._stats
            x = x * std + mean
            if getattr(t, "input_format", None) != self.spec.input_format:
                x = x.flip(1)  # RGB <-> BGR
            x = (x - t.pixel_mean) / t.pixel_std
            x = x * valid_mask(image_sizes, x.shape[-2], x.shape[-1], x.device)[:, None]
        return pad_for_backbone(x, t.backbone)
