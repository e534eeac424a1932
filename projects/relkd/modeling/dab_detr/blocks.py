"""Building blocks of DAB-DETR's transformer (:mod:`.transformer`): an MLP, multi-head attention
on projected inputs, and the feed-forward block of every layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, num_layers: int):
        super().__init__()
        dims = [in_dim] + [hidden] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def _activation(name: str) -> nn.Module:
    acts = {"relu": nn.ReLU, "gelu": nn.GELU, "prelu": nn.PReLU}
    if name not in acts:
        raise ValueError(f"activation must be one of {sorted(acts)}, got {name!r}")
    return acts[name]()


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    nhead: int,
    pad_mask: torch.Tensor | None,
    allowed: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-head scaled dot-product attention on projected inputs.

    Args:
        q: ``(B, L, nhead * e)``; k: ``(B, S, nhead * e)``; v: ``(B, S, nhead * ev)``.
        pad_mask: ``(B, S)`` bool, True where a key is padding; or None.
        allowed: ``(L, S)`` bool, True where a query may attend to a key; or None (all).

    Returns:
        ``(B, L, nhead * ev)``.
    """
    b, n_q, n_k = q.shape[0], q.shape[1], k.shape[1]
    q = q.reshape(b, n_q, nhead, -1).transpose(1, 2)
    k = k.reshape(b, n_k, nhead, -1).transpose(1, 2)
    v = v.reshape(b, n_k, nhead, -1).transpose(1, 2)
    keep = None if pad_mask is None else ~pad_mask[:, None, None, :]
    if allowed is not None:
        keep = allowed if keep is None else keep & allowed
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    return out.transpose(1, 2).reshape(b, n_q, -1)


class FeedForward(nn.Module):
    """``Linear(d, ffn)``, activation, dropout, ``Linear(ffn, d)``: ``(..., d) -> (..., d)``."""

    def __init__(self, d: int, ffn: int, dropout: float, activation: str):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.act = _activation(activation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))
