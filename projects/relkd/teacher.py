"""The frozen teacher detector.

``Teacher`` is a plain Python object, deliberately not an ``nn.Module`` child of the student:
detectron2's name-matching checkpoint loader would otherwise see ``backbone.*`` twice, the
trainer's ``model.train()`` would flip it into train mode, and DDP and the optimizer would see
its parameters. The owning meta-architecture moves it along with itself (see ``DistillMixin``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .loading import (  # noqa: F401  (public here too: relkd.teacher.load_strict, ...)
    CheckpointLoadError,
    TeacherLoadError,
    build_model_from_config,
    is_yacs_file,
    load_strict,
    resolve_path,
)
from .utils.features import capture_features, feature_shapes
from .utils.resize import valid_mask


class Teacher:
    """A frozen detector that produces named features for distillation.

    Args:
        config: a config file path (relative to the working directory or the relkd
            repository): a LazyConfig ``.py``/``.yaml`` or a detectron2 yacs ``.yaml``; or a
            LazyConfig node, either a full config with a ``model`` entry or the model node.
        weights: checkpoint path or ``DetectionCheckpointer`` URL, loaded strictly by
            :meth:`load`, at the teacher's first use (relkd's training loop calls it before
            training): a distilled model built to evaluate or export the student needs no
            teacher checkpoint on disk.
        model: an already-built detector instead of ``config`` (for tests and tools).
    """

    def __init__(self, config=None, weights: str = "", *, model: nn.Module | None = None):
        if (config is None) == (model is None):
            raise ValueError("Teacher needs exactly one of `config` or `model`")
        if config is not None and not weights:
            raise TeacherLoadError("Teacher weights are empty: a trained checkpoint is needed")
        self.model = model if model is not None else build_model_from_config(config)
        self.weights = weights
        self._pending = bool(weights)  # weights not loaded yet
        self.model.eval()
        self.model.requires_grad_(False)

    def load(self) -> Teacher:
        """Load the weights (strictly, raising :class:`TeacherLoadError`) unless done already."""
        if self._pending:
            load_strict(self.model, self.weights)
            self._pending = False
        return self

    @property
    def loaded(self) -> bool:
        """Whether the teacher holds its checkpoint's weights (or was given a built model)."""
        return not self._pending

    # --- properties of the teacher's own preprocessing -----------------------------------------
    @property
    def device(self) -> torch.device:
        return self.model.pixel_mean.device

    @property
    def backbone(self) -> nn.Module:
        return self.model.backbone

    def feature_shapes(self) -> dict:
        """``{name: ShapeSpec}`` for every feature the teacher backbone can produce."""
        return feature_shapes(self.backbone)

    def to(self, device) -> Teacher:
        self.model.to(device)
        return self

    # --- running -------------------------------------------------------------------------------
    def frozen_model(self) -> nn.Module:
        """The teacher model with its weights loaded, put back into eval mode if a caller
        flipped it."""
        self.load()
        if self.model.training:
            self.model.eval()
        return self.model

    def prepare_images(
        self, images: torch.Tensor, image_sizes: list[tuple[int, int]], student: nn.Module
    ) -> torch.Tensor:
        """Turn the student's normalised, padded batch into the teacher's input.

        Args:
            images: ``(B, 3, H, W)`` normalised by the student's pixel mean/std, zero-padded.
            image_sizes: the unpadded ``(h, w)`` of each image.
            student: the student detector (for its pixel mean/std and input format).

        Returns:
            ``(B, 3, H', W')`` normalised with the teacher's statistics and format, zero outside
            each image, padded to the teacher's size divisibility.
        """
        t = self.model
        same = (
            torch.equal(t.pixel_mean, student.pixel_mean)
            and torch.equal(t.pixel_std, student.pixel_std)
            and getattr(t, "input_format", None) == getattr(student, "input_format", None)
        )
        x = images
        if not same:
            x = x * student.pixel_std + student.pixel_mean
            if getattr(t, "input_format", None) != getattr(student, "input_format", None):
                x = x.flip(1)  # RGB <-> BGR
            x = (x - t.pixel_mean) / t.pixel_std
            x = x * valid_mask(image_sizes, x.shape[-2], x.shape[-1], x.device)[:, None]
        div = self.backbone.size_divisibility
        square = getattr(self.backbone, "padding_constraints", {}).get("square_size", 0)
        h, w = x.shape[-2:]
        if div > 1:
            h, w = -(-h // div) * div, -(-w // div) * div
        if square:
            h, w = max(h, square), max(w, square)
        if (h, w) != tuple(x.shape[-2:]):
            x = F.pad(x, (0, w - x.shape[-1], 0, h - x.shape[-2]))
        return x

    @torch.no_grad()
    def features(
        self,
        images: torch.Tensor,
        image_sizes: list[tuple[int, int]],
        student: nn.Module,
        names: Iterable[str],
    ) -> dict[str, torch.Tensor]:
        """Run the teacher backbone (and neck) only, returning the requested named features.

        Args:
            images: the student's preprocessed ``(B, 3, H, W)`` batch.
            image_sizes: unpadded size of each image.
            student: the student detector (for re-normalisation).
            names: feature names, e.g. ``("p3", "res4")``.

        Returns:
            ``{name: (B, C, H_l, W_l)}``, detached, in the teacher's dtype.
        """
        self.frozen_model()
        x = self.prepare_images(images, image_sizes, student)
        return capture_features(self.backbone, x, list(names))
