"""The frozen teacher detector.

``Teacher`` is a plain Python object, deliberately not an ``nn.Module`` child of the student:
detectron2's name-matching checkpoint loader would otherwise see ``backbone.*`` twice, the
trainer's ``model.train()`` would flip it into train mode, and DDP and the optimizer would see
its parameters. The owning meta-architecture moves it along with itself (see ``DistillMixin``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .utils.features import capture_features, feature_shapes
from .utils.resize import valid_mask

logger = logging.getLogger(__name__)

_URL_PREFIXES = ("detectron2://", "http://", "https://", "manifold://", "catalog://")


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def resolve_path(path: str, what: str = "Teacher config file") -> str:
    """Find a file relative to the working directory, then to the relkd repository root."""
    for cand in (path, os.path.join(_repo_root(), path)):
        if os.path.isfile(cand):
            return cand
    raise FileNotFoundError(
        f"{what} {path!r} not found (looked in {os.getcwd()!r} and the relkd repository root "
        f"{_repo_root()!r})"
    )


def _build_model(config) -> nn.Module:
    from detectron2.config import LazyConfig, instantiate

    if isinstance(config, str):
        config = LazyConfig.load(resolve_path(config))
    node = config.model if "model" in config else config
    return instantiate(node)


class TeacherLoadError(RuntimeError):
    """The teacher checkpoint is missing, unreadable or does not match the teacher config."""


def _strict_checkpointer(model: nn.Module, weights: str, what: str = "Teacher"):
    """A ``DetectionCheckpointer`` whose report of incompatible keys raises instead of logging."""
    from detectron2.checkpoint import DetectionCheckpointer

    class _Strict(DetectionCheckpointer):
        def _log_incompatible_keys(self, incompatible) -> None:
            problems = []
            if incompatible.missing_keys:
                problems.append(f"missing keys {sorted(incompatible.missing_keys)}")
            if incompatible.unexpected_keys:
                problems.append(f"unexpected keys {sorted(incompatible.unexpected_keys)}")
            if incompatible.incorrect_shapes:
                shapes = [
                    f"{k}: checkpoint {tuple(a)} vs model {tuple(b)}"
                    for k, a, b in incompatible.incorrect_shapes
                ]
                hint = ""
                if any("cls" in k or "predictor" in k for k, _, _ in incompatible.incorrect_shapes):
                    hint = (
                        " (a different num_classes in the checkpoint than in the teacher config?)"
                    )
                problems.append(f"shape mismatches [{'; '.join(shapes)}]{hint}")
            if problems:
                raise TeacherLoadError(
                    f"{what} checkpoint {weights!r} does not match the {what.lower()} config: "
                    + "; ".join(problems)
                )

    return _Strict(model)


def load_strict(model: nn.Module, weights: str, what: str = "Teacher") -> None:
    """Load ``weights`` into ``model``, raising on any missing, unexpected or mis-shaped key.

    ``what`` names the model in the messages (the tools load students with it too).

    ``weights`` may be a local path (relative to the working directory or the relkd repository)
    or a URL understood by ``DetectionCheckpointer`` (``detectron2://...``); model-zoo ``.pkl``
    files go through detectron2's usual name conversion.
    """
    if not weights:
        raise TeacherLoadError(f"{what} weights are empty: a trained checkpoint is needed")
    if not weights.startswith(_URL_PREFIXES):
        try:
            weights = resolve_path(weights, f"{what} checkpoint")
        except FileNotFoundError as e:
            raise TeacherLoadError(str(e)) from None
    checkpointer = _strict_checkpointer(model, weights, what)
    try:
        checkpointer.load(weights, checkpointables=[])
    except TeacherLoadError:
        raise
    except Exception as e:  # torch/pickle/IO raise many types; keep the cause chained
        # torch's own message can be a bare "101" (a text file read as a pickle): name the type
        raise TeacherLoadError(
            f"{what} checkpoint {weights!r} is unreadable ({type(e).__name__}: {e}); expected a "
            "checkpoint saved by detectron2 (.pth), torch.save or the model zoo (.pkl)"
        ) from e


class Teacher:
    """A frozen detector that produces named features for distillation.

    Args:
        config: a LazyConfig file path (relative to the working directory or the relkd
            repository), or a config node; either a full config with a ``model`` entry or the
            model node itself.
        weights: checkpoint path or ``DetectionCheckpointer`` URL, loaded strictly.
        model: an already-built detector instead of ``config`` (for tests and tools).
    """

    def __init__(self, config=None, weights: str = "", *, model: nn.Module | None = None):
        if (config is None) == (model is None):
            raise ValueError("Teacher needs exactly one of `config` or `model`")
        self.model = model if model is not None else _build_model(config)
        if config is not None or weights:
            load_strict(self.model, weights)
        self.weights = weights
        self.model.eval()
        self.model.requires_grad_(False)

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
        """The teacher model, put back into eval mode if a caller flipped it."""
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
