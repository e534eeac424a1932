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


def is_yacs_file(path: str) -> bool:
    """Whether ``path`` is a detectron2 yacs config (``MODEL:``/``_BASE_:`` at the top level)
    rather than a LazyConfig (``.py``, or a ``.yaml`` written by ``LazyConfig.save``)."""
    if os.path.splitext(path)[1] not in (".yaml", ".yml"):
        return False
    import yaml

    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and ("MODEL" in data or "_BASE_" in data)


def _build_yacs(path: str) -> nn.Module:
    """The model of the yacs config file ``path`` (read on top of ``get_cfg()``), on the CPU."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from .config import add_relkd_config  # here: relkd.config imports this module

    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.merge_from_file(path)
    cfg.MODEL.DEVICE = "cpu"  # moved to the student's device with it
    cfg.MODEL.WEIGHTS = ""
    return build_model(cfg)


def _build_model(config) -> nn.Module:
    from detectron2.config import LazyConfig, instantiate

    if isinstance(config, str):
        path = resolve_path(config)
        if is_yacs_file(path):
            return _build_yacs(path)
        config = LazyConfig.load(path)
    node = config.model if "model" in config else config
    return instantiate(node)


class CheckpointLoadError(RuntimeError):
    """A checkpoint is missing, unreadable or does not match the model it is loaded into."""


class TeacherLoadError(CheckpointLoadError):
    """The teacher checkpoint is missing, unreadable or does not match the teacher config."""


def _load_error(what: str, message: str) -> CheckpointLoadError:
    """:class:`TeacherLoadError` for the teacher, :class:`CheckpointLoadError` for other models
    (the tools load students with :func:`load_strict` too)."""
    return (TeacherLoadError if what == "Teacher" else CheckpointLoadError)(message)


def _strict_checkpointer(model: nn.Module, weights: str, what: str = "Teacher"):
    """A ``DetectionCheckpointer`` whose report of incompatible keys raises instead of logging."""
    from detectron2.checkpoint import DetectionCheckpointer

    class _Strict(DetectionCheckpointer):
        def _log_incompatible_keys(self, incompatible) -> None:
            problems = []
            if incompatible.missing_keys:
                problems.append(f"missing keys {sorted(incompatible.missing_keys)}")
            unexpected = _drop_config_buffers(model, incompatible.unexpected_keys, weights)
            if unexpected:
                problems.append(f"unexpected keys {sorted(unexpected)}")
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
                raise _load_error(
                    what,
                    f"{what} checkpoint {weights!r} does not match the {what.lower()} config: "
                    + "; ".join(problems),
                )

    return _Strict(model)


def _config_buffers(model: nn.Module) -> set[str]:
    """Names of ``model``'s non-persistent buffers: values it takes from its config (detectron2's
    ``pixel_mean`` and ``pixel_std``), not from a checkpoint."""
    return {
        f"{prefix}.{name}" if prefix else name
        for prefix, module in model.named_modules()
        for name in getattr(module, "_non_persistent_buffers_set", ())
    }


def _drop_config_buffers(model: nn.Module, unexpected: list[str], weights: str) -> list[str]:
    """``unexpected`` without the model's config buffers, which checkpoints saved by older
    detectron2 versions hold (detectron2 itself ignores them); each one dropped is logged."""
    config = _config_buffers(model) & set(unexpected)
    if config:
        logger.info(
            "%s: ignoring %s in the checkpoint (the model takes them from its config, as "
            "detectron2 does)",
            weights,
            sorted(config),
        )
    return [k for k in unexpected if k not in config]


def load_strict(model: nn.Module, weights: str, what: str = "Teacher") -> None:
    """Load ``weights`` into ``model``, raising on any missing, unexpected or mis-shaped key.

    ``what`` names the model in the messages (the tools load students with it too).

    ``weights`` may be a local path (relative to the working directory or the relkd repository)
    or a URL understood by ``DetectionCheckpointer`` (``detectron2://...``); model-zoo ``.pkl``
    files go through detectron2's usual name conversion.
    """
    if not weights:
        raise _load_error(what, f"{what} weights are empty: a trained checkpoint is needed")
    if not weights.startswith(_URL_PREFIXES):
        try:
            weights = resolve_path(weights, f"{what} checkpoint")
        except FileNotFoundError as e:
            raise _load_error(what, str(e)) from None
    checkpointer = _strict_checkpointer(model, weights, what)
    try:
        checkpointer.load(weights, checkpointables=[])
    except CheckpointLoadError:
        raise
    except Exception as e:  # torch/pickle/IO raise many types; keep the cause chained
        # torch's own message can be a bare "101" (a text file read as a pickle): name the type
        raise _load_error(
            what,
            f"{what} checkpoint {weights!r} is unreadable ({type(e).__name__}: {e}); expected a "
            "checkpoint saved by detectron2 (.pth), torch.save or the model zoo (.pkl)",
        ) from e


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
        self.model = model if model is not None else _build_model(config)
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
