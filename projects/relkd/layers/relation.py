"""DRKD's instance-relation module with its relation filter (docs/methods.md, "DRKD")."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

RELATION_FILTERS = ("code", "none")


class InstanceRelation(nn.Module):
    """Non-local relation over the ``n`` instances of one image.

    ``E = theta(x) phi(x)^T``; with ``relation_filter="code"`` a fresh, untrained
    ``Linear(d, n)`` (PyTorch's default init, drawn from ``generator``) gives a row-softmaxed
    filter ``Fm`` and ``A = softmax_row(E * Fm)``, as the official code does on every call;
    with ``"none"``, ``A = softmax_row(E)``. Output ``z = x + W(A g(x))``.

    Args:
        in_dim: ``d``, the flattened instance feature size (``C * 3 * 3`` in DRKD).
        relation_filter: ``"code"`` or ``"none"``.
        generator: optional ``torch.Generator`` for the filter (deterministic tests).
    """

    def __init__(self, in_dim: int, relation_filter: str = "code", generator=None):
        super().__init__()
        if relation_filter not in RELATION_FILTERS:
            raise ValueError(
                f"InstanceRelation: relation_filter must be one of {RELATION_FILTERS}, got "
                f"{relation_filter!r}"
            )
        if in_dim < 2:
            raise ValueError(f"InstanceRelation: in_dim must be >= 2, got {in_dim}")
        hidden = in_dim // 2
        self.theta = nn.Linear(in_dim, hidden)
        self.phi = nn.Linear(in_dim, hidden)
        self.g = nn.Linear(in_dim, hidden)
        self.w = nn.Linear(hidden, in_dim)
        self.relation_filter = relation_filter
        self.generator = generator

    def random_filter(
        self, n: int, device, dtype=torch.float32
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight ``(n, d)`` and bias ``(n,)`` of a fresh ``nn.Linear(d, n)`` (U(+-1/sqrt(d)))."""
        d = self.theta.in_features
        bound = 1.0 / math.sqrt(d)
        gen_device = self.generator.device if self.generator is not None else device
        u = torch.rand(n, d + 1, generator=self.generator, device=gen_device, dtype=dtype)
        u = (u * 2 - 1) * bound
        u = u.to(device)
        return u[:, :d], u[:, d]

    def forward(
        self, x: torch.Tensor, counts: Sequence[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x: (n, d) -> (z: (n, d), A: (n, n))``; computed in fp32, rows of ``A`` sum to 1.

        ``counts``: the instances of several images stacked in ``x`` (``sum(counts) == n``),
        related within their own image only, in one pass: ``A`` is block-diagonal, and the
        result equals calling the module image by image (the random filters' rows are drawn in
        the same order, so with a ``generator`` they are the same numbers).
        """
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.float()
            same = None if counts is None else same_group(counts, xf.device)
            if same is not None and same.shape[0] != xf.shape[0]:
                raise ValueError(
                    f"InstanceRelation: counts {list(counts)} sum to {same.shape[0]}, "
                    f"not the {xf.shape[0]} rows of x"
                )
            logits = self.theta(xf) @ self.phi(xf).t()  # (n, n)
            if self.relation_filter == "code":
                weight, bias = self.random_filter(xf.shape[0], xf.device)
                logits = logits * masked_softmax(F.linear(xf, weight, bias), same)
            a = masked_softmax(logits, same)
            z = xf + self.w(a @ self.g(xf))
        return z.to(x.dtype), a


def same_group(counts: Sequence[int], device=None) -> torch.Tensor:
    """``(n, n)`` bool, true where rows ``i`` and ``j`` belong to the same group of ``counts``."""
    ids = torch.repeat_interleave(
        torch.arange(len(counts), device=device), torch.as_tensor(counts, device=device)
    )
    return ids[:, None] == ids[None, :]


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Row softmax of ``(n, n)`` logits over the entries where ``mask`` is true (all if
    ``None``); every row must keep at least one entry (the diagonal does)."""
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    return F.softmax(logits, dim=1)
