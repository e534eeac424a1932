"""Loading what a teacher (or a student) is built from: config files of either kind
(LazyConfig ``.py``/``.yaml``, detectron2 yacs ``.yaml``) and checkpoints, loaded strictly.

Paths resolve against the working directory, then the relkd repository.
"""

from __future__ import annotations

import logging
import os

from torch import nn

from .config import add_relkd_config

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


def _tolerant_loader():
    """A ``yaml.SafeLoader`` that reads any tag it does not know (detectron2's model-zoo yamls
    carry ``!!python/object/apply:eval``) as ``None`` instead of raising: only the top-level
    keys are looked at, and nothing the file names is constructed or run."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    return _Loader


def is_yacs_file(path: str) -> bool:
    """Whether ``path`` is a detectron2 yacs config (``MODEL:``/``_BASE_:`` at the top level)
    rather than a LazyConfig (``.py``, or a ``.yaml`` written by ``LazyConfig.save``).

    Python tags in the file (the model zoo's ``!!python/object/apply:eval``) do not change the
    answer: they are read as ``None``, never evaluated (detectron2's own yacs loader decides
    whether to evaluate them when the config is merged)."""
    if os.path.splitext(path)[1] not in (".yaml", ".yml"):
        return False
    import yaml

    try:
        with open(path) as f:
            data = yaml.load(f, Loader=_tolerant_loader())  # noqa: S506 (tags read as None)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and ("MODEL" in data or "_BASE_" in data)


def _build_yacs(path: str) -> nn.Module:
    """The model of the yacs config file ``path`` (read on top of ``get_cfg()``), on the CPU."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.merge_from_file(path)
    cfg.MODEL.DEVICE = "cpu"  # moved to the student's device with it
    cfg.MODEL.WEIGHTS = ""
    return build_model(cfg)


def build_model_from_config(config) -> nn.Module:
    """The model of ``config``: a config file path (either kind) or a LazyConfig node (a full
    config with ``model``, or the model node)."""
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
