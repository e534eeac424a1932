"""Building a teacher's model and loading its weights.

:func:`check_source` refuses a teacher that would stay random, :func:`build_frozen` builds the
model (or takes the one given) and freezes it, and :class:`LazyCheckpoint` loads the checkpoint
strictly, once, when it is first needed: a distilled model built to evaluate or export the
student needs no teacher checkpoint on disk.
"""

from __future__ import annotations

from torch import nn

from ..loading import TeacherLoadError, build_model_from_config, load_strict


def check_source(config, model: nn.Module | None, weights: str | None, loaded: bool) -> None:
    """Raise unless a teacher is built from exactly one of ``config`` and ``model`` and will
    hold trained weights: ``weights`` to load, or ``loaded=True`` for a ``model`` whose caller
    loaded them (a model built here from ``config`` cannot hold trained weights).

    Raises:
        ValueError: a bad combination or type of arguments.
        TeacherLoadError: no ``weights`` and no ``loaded=True``.
    """
    if (config is None) == (model is None):
        raise ValueError("Teacher needs exactly one of `config` or `model`")
    if not isinstance(loaded, bool):
        raise ValueError(f"Teacher loaded must be True or False, got {loaded!r}")
    if weights is not None and not isinstance(weights, str):
        raise ValueError(f"Teacher weights must be a path or URL string, got {weights!r}")
    if isinstance(config, str):
        source = f"config={config!r}"
    elif config is not None:
        source = "config=<LazyConfig node>"
    else:
        source = f"model={type(model).__name__}"
    if loaded and (weights or config is not None):
        raise ValueError(
            f"Teacher({source}, weights={weights!r}, loaded=True): loaded=True says that an "
            "already-built `model` holds its trained weights; give either `weights` (loaded "
            "by relkd) or `model` with loaded=True"
        )
    if not weights and not loaded:
        raise TeacherLoadError(
            f"Teacher({source}, weights={weights!r}): no teacher weights, so the teacher "
            "would be a random network. Set the teacher's trained checkpoint (LazyConfig: "
            "model.teacher.weights=PATH; yacs: RELKD.TEACHER.WEIGHTS), or, for a model whose "
            "trained weights you loaded yourself, pass Teacher(model=..., loaded=True)"
        )


def build_frozen(config, model: nn.Module | None) -> nn.Module:
    """``model``, or the model of ``config`` (a config file path or a LazyConfig node), in eval
    mode and without gradients."""
    model = model if model is not None else build_model_from_config(config)
    model.eval()
    model.requires_grad_(False)
    return model


class LazyCheckpoint:
    """A checkpoint loaded strictly into a model at the first :meth:`load`.

    Args:
        model: the model the weights go into.
        path: the checkpoint's path or ``DetectionCheckpointer`` URL; empty: nothing to load
            (the model holds its weights already).
    """

    def __init__(self, model: nn.Module, path: str):
        self.model = model
        self.path = path
        self.pending = bool(path)  # weights not loaded yet

    def load(self) -> None:
        """Load the weights (raising :class:`TeacherLoadError`) unless done already."""
        if self.pending:
            load_strict(self.model, self.path)
            self.pending = False
