"""What a distilling meta-architecture hands its distillers besides named features: the
``"anchors"`` input kind of relkd's CNN hosts, the calls of the student submodules that
distillers name (recorded by forward hooks, as D2Go records layers by name), and the check, at
construction, that every declared input can be provided."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

from torch import nn

from ..distillers.base import Distiller, Requirements
from ..distillers.inputs import ModuleCall
from ..distillers.kinds import INPUT_KINDS, Step


def _anchor_refusal(model: nn.Module) -> str | None:
    if not model._anchor_levels():
        return f"{type(model).__name__} has no anchors (no RPN and no anchor-based head)"
    return None


@INPUT_KINDS.register("anchors", check=_anchor_refusal)
def _anchors(step: Step) -> list:
    """The student's anchors: one ``Boxes`` of ``(H_l * W_l * A, 4)`` per anchor level (RPN
    anchors for an R-CNN, head anchors for RetinaNet and FCOS), from this forward's features."""
    levels = step.model._anchor_levels()
    return step.model._anchor_generator()([step.features[f] for f in levels])


def check_inputs(
    model: nn.Module, distillers: Sequence[Distiller], requirements: Sequence[Requirements]
) -> tuple[list[str], list[str]]:
    """The input kinds and the student submodules the distillers read, sorted; raises a
    ValueError naming the distiller when a kind is unknown or ``model`` cannot provide it, or
    when a submodule name is not one of ``model``'s."""
    modules = dict(model.named_modules())
    for d, req in zip(distillers, requirements):
        owner = type(d).__name__
        for kind in req.inputs:
            try:
                refusal = INPUT_KINDS.get(kind).refusal(model)
            except KeyError as e:
                raise ValueError(f"{owner}: {e.args[0]}") from e
            if refusal:
                raise ValueError(f"{owner} reads input {kind!r}, which {refusal}")
        missing = [n for n in req.student_modules if n not in modules]
        if missing:
            near = sorted({n for n in modules if n and n.split(".")[0] in {"head", "roi_heads"}})
            raise ValueError(
                f"{owner} records student submodule(s) {missing}, which "
                f"{type(model).__name__} does not have; its head modules: {near[:40]}"
            )
    kinds = sorted({k for r in requirements for k in r.inputs})
    names = sorted({n for r in requirements for n in r.student_modules})
    return kinds, names


@contextmanager
def record_calls(model: nn.Module, names: Sequence[str], store: dict):
    """While active, each call of the submodules ``names`` of ``model`` appends a
    :class:`ModuleCall` (its positional arguments and output) to ``store[name]``."""
    handles = []
    for name in names:
        calls = store.setdefault(name, [])
        hook = lambda m, args, out, calls=calls: calls.append(ModuleCall(args, out))  # noqa: E731
        handles.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def provide(kinds: Sequence[str], step: Step) -> dict:
    """``{kind: value}`` of each input kind in ``kinds`` for this step."""
    return {k: INPUT_KINDS.get(k).provide(step) for k in kinds}
