"""Gradient norms of single loss terms on a model's parameters, without touching ``.grad``.

One piece shared by ``loss_weight="auto"`` (``relkd.meta_arch.distill``), which measures them
during its calibration window, and ``tools/loss_scale.py --grads``, which prints them.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

# parameter names under this prefix belong to the distillers (adapters, GloRe units), not to
# the student that is deployed
DISTILLER_PREFIX = "distillers."


def student_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable parameters of ``model`` that the deployed student keeps: every parameter
    with ``requires_grad`` except the distillers' own modules (the teacher is no submodule)."""
    return [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and not n.startswith(DISTILLER_PREFIX)
    ]


def grad_norm(loss: torch.Tensor, params: Iterable[nn.Parameter]) -> torch.Tensor:
    """The L2 norm of ``d loss / d params`` over all of ``params``, as a 0-d tensor on the
    loss's device (no host read). The graph is kept (the training step's own backward comes
    later) and ``.grad`` is left alone; parameters the loss does not reach count as zero, so a
    loss that reaches none of them has norm 0.

    Args:
        loss: a scalar in the current graph.
        params: leaf tensors that require gradients.
    """
    params = list(params)
    if not loss.requires_grad:
        return torch.zeros((), device=loss.device, dtype=torch.float64)
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    # summed in float64: a float32 reduction over millions of squares depends on its order
    # (one such norm of the digits student differed from this one by 1e-4 relative)
    squares = [g.detach().double().pow(2).sum() for g in grads if g is not None]
    if not squares:
        return torch.zeros((), device=loss.device, dtype=torch.float64)
    return torch.stack(squares).sum().sqrt()
