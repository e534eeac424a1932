"""DAB-DETR's transformer: a post-norm encoder and a decoder driven by 4-D anchor boxes.

The decoder follows the DAB-DETR paper (Liu et al., ICLR 2022): each query is an anchor
``(cx, cy, w, h)``; its sine embedding gives the positional query, the cross-attention
concatenates content and position per head (conditional DETR), the positional part is modulated
by the ratio of a predicted reference size to the anchor size, and every layer refines the
anchor with the shared box head. Encoding and decoding are separate calls, so extra decoder
passes (KD-DETR's distillation points) reuse one encoder output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...layers.boxes import inverse_sigmoid
from .blocks import MLP, FeedForward, attend
from .position import anchor_embed


class EncoderLayer(nn.Module):
    """Post-norm self-attention (position added to queries and keys) and FFN."""

    def __init__(self, d: int, nhead: int, ffn: int, dropout: float, activation: str):
        super().__init__()
        self.nhead = nhead
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        self.ffn = FeedForward(d, ffn, dropout, activation)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, pad_mask) -> torch.Tensor:
        """``src``, ``pos``: ``(B, S, d)``; returns ``(B, S, d)``."""
        qk = src + pos
        att = attend(self.q(qk), self.k(qk), self.v(src), self.nhead, pad_mask)
        src = self.norm1(src + self.drop(self.out(att)))
        return self.norm2(src + self.drop(self.ffn(src)))


class DecoderLayer(nn.Module):
    """Self-attention among queries, then conditional cross-attention to the memory, then FFN.

    Args:
        first: the first layer also adds the positional query to the content query (and the
            key positions to the keys) before the per-head concatenation, as in conditional
            DETR; later layers rely on the concatenated sine part alone.
    """

    def __init__(self, d: int, nhead: int, ffn: int, dropout: float, activation: str, first: bool):
        super().__init__()
        self.nhead, self.first = nhead, first
        self.sa_qc, self.sa_qp, self.sa_kc, self.sa_kp, self.sa_v, self.sa_out = (
            nn.Linear(d, d) for _ in range(6)
        )
        self.ca_qc, self.ca_kc, self.ca_kp, self.ca_v, self.ca_qs, self.ca_out = (
            nn.Linear(d, d) for _ in range(6)
        )
        self.ca_qp = nn.Linear(d, d) if first else None
        self.ffn = FeedForward(d, ffn, dropout, activation)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d) for _ in range(3))
        self.drop = nn.Dropout(dropout)

    def _heads(self, content: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Concatenate content and position per head: ``(B, L, d) x2 -> (B, L, 2d)``."""
        b, n, d = content.shape
        c = content.reshape(b, n, self.nhead, d // self.nhead)
        p = pos.reshape(b, n, self.nhead, d // self.nhead)
        return torch.cat((c, p), dim=-1).reshape(b, n, 2 * d)

    def memory_side(self, memory: torch.Tensor, memory_pos: torch.Tensor) -> tuple:
        """The cross-attention keys and values, ``(B, S, 2d)`` and ``(B, S, d)``: they depend on
        the memory only, so decoder passes over one encoder output share them."""
        k, k_pos = self.ca_kc(memory), self.ca_kp(memory_pos)
        if self.first:
            k = k + k_pos
        return self._heads(k, k_pos), self.ca_v(memory)

    def forward(self, tgt, memory_side: tuple, pad_mask, query_pos, query_sine, groups=None):
        """Shapes: ``tgt``, ``query_pos``, ``query_sine`` ``(B, N, d)``; ``memory_side`` from
        :meth:`memory_side`; ``pad_mask`` ``(B, S)``; ``groups``: ``(N, N)`` bool, the query
        pairs that may attend to each other in self-attention (None: all). Returns
        ``(B, N, d)``."""
        q = self.sa_qc(tgt) + self.sa_qp(query_pos)
        k = self.sa_kc(tgt) + self.sa_kp(query_pos)
        att = attend(q, k, self.sa_v(tgt), self.nhead, None, groups)
        tgt = self.norm1(tgt + self.drop(self.sa_out(att)))

        q = self.ca_qc(tgt)
        if self.first:
            q = q + self.ca_qp(query_pos)
        q = self._heads(q, self.ca_qs(query_sine))
        k, v = memory_side
        att = attend(q, k, v, self.nhead, pad_mask)
        tgt = self.norm2(tgt + self.drop(self.ca_out(att)))
        return self.norm3(tgt + self.drop(self.ffn(tgt)))


class Encoder(nn.Module):
    """Encoder layers whose positional embedding is scaled by a function of the content."""

    def __init__(self, d, nhead, ffn, dropout, activation, num_layers):
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(d, nhead, ffn, dropout, activation) for _ in range(num_layers)
        )
        self.query_scale = MLP(d, d, d, 2)
        xavier_init(self)  # as the official code initialises its transformer

    def forward(self, src: torch.Tensor, pos: torch.Tensor, pad_mask) -> torch.Tensor:
        """``(B, S, d)`` -> ``(B, S, d)``."""
        for layer in self.layers:
            src = layer(src, pos * self.query_scale(src), pad_mask)
        return src


class AnchorDecoder(nn.Module):
    """DAB-DETR's decoder: anchors in, per-layer normalised states and refined boxes out.

    Args:
        modulate_hw: scale the positional attention by predicted width/height over the anchor's
            (DAB-DETR's modulated attention).
    """

    def __init__(
        self,
        d,
        nhead,
        ffn,
        dropout,
        activation,
        num_layers,
        modulate_hw: bool = True,
        temperature: float = 10000.0,
    ):
        super().__init__()
        if d % 4:
            raise ValueError(f"d_model must be divisible by 4 (4-D anchors), got {d}")
        self.d, self.temperature = d, temperature
        self.layers = nn.ModuleList(
            DecoderLayer(d, nhead, ffn, dropout, activation, first=i == 0)
            for i in range(num_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.query_scale = MLP(d, d, d, 2)
        self.ref_point_head = MLP(2 * d, d, d, 2)
        self.ref_anchor_head = MLP(d, d, 2, 2) if modulate_hw else None
        xavier_init(self)  # as the official code initialises its transformer

    def forward(
        self,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        pad_mask: torch.Tensor | None,
        anchors: torch.Tensor,
        bbox_embed: nn.Module,
        cache: dict | None = None,
        group_sizes: Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode ``N`` anchors.

        Args:
            memory, memory_pos: ``(B, S, d)``.
            pad_mask: ``(B, S)`` or None.
            anchors: ``(B, N, 4)`` unsigmoided ``(cx, cy, w, h)``.
            bbox_embed: the detector's box head (``d -> 4`` offsets in logit space).
            cache: a dict owned by one encoder output; the layers' memory-side projections are
                computed on the first pass and reused by later passes (KD-DETR's point passes).
            group_sizes: split the ``N`` queries into consecutive groups of these sizes that
                do not see each other in self-attention: one pass decodes several anchor sets
                as separate passes would (the only place queries interact). None: one group.

        Returns:
            ``hs`` ``(L, B, N, d)`` normalised decoder states and ``boxes`` ``(L, B, N, 4)``
            sigmoided cxcywh, one per layer.

        As in the official DAB-DETR code, two boxes come from each layer's state:
        - the next layer's anchor, ``sigmoid(bbox_embed(tgt) + logit(ref))`` from the layer's
          output before the decoder's final LayerNorm, detached before the next layer uses it;
        - the reported box, ``sigmoid(bbox_embed(norm(tgt)) + logit(prev))`` where ``prev`` is
          the previous layer's anchor *before* detaching (the learned anchors for layer 0).
          So a layer's box loss also trains the layer before it ("look forward once"), and
          layer 1's reaches the learned anchors through layer 0's refinement.
        """
        d = self.d
        sides = None if cache is None else cache.get("memory_side")
        if sides is None:
            sides = [layer.memory_side(memory, memory_pos) for layer in self.layers]
            if cache is not None:
                cache["memory_side"] = sides
        groups = None if group_sizes is None else block_diagonal(group_sizes, memory.device)
        tgt = memory.new_zeros(anchors.shape[0], anchors.shape[1], d)
        ref = anchors.sigmoid()
        prev = ref  # the reference the reported box of this layer refines, not detached
        states, boxes = [], []
        for i, layer in enumerate(self.layers):
            sine = anchor_embed(ref, d // 2, self.temperature).to(memory.dtype)
            query_pos = self.ref_point_head(sine)
            sine_xy = sine[..., :d]
            if i > 0:
                sine_xy = sine_xy * self.query_scale(tgt)
            if self.ref_anchor_head is not None:
                hw = self.ref_anchor_head(tgt).sigmoid()
                sine_xy = torch.cat(
                    (
                        sine_xy[..., : d // 2] * (hw[..., 0] / ref[..., 2])[..., None],
                        sine_xy[..., d // 2 :] * (hw[..., 1] / ref[..., 3])[..., None],
                    ),
                    dim=-1,
                )
            tgt = layer(tgt, sides[i], pad_mask, query_pos, sine_xy, groups)
            out = self.norm(tgt)
            states.append(out)
            boxes.append((bbox_embed(out) + inverse_sigmoid(prev)).sigmoid())
            if i < len(self.layers) - 1:  # the last layer's next anchor would go unused
                prev = (bbox_embed(tgt) + inverse_sigmoid(ref)).sigmoid()
                ref = prev.detach()
        return torch.stack(states), torch.stack(boxes)


def block_diagonal(sizes: Sequence[int], device=None) -> torch.Tensor:
    """``(N, N)`` bool, True within each of the consecutive blocks of ``sizes`` (N = their
    sum)."""
    ids = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(list(sizes)))
    return (ids[:, None] == ids[None, :]).to(device)


def xavier_init(module: nn.Module) -> None:
    """``xavier_uniform_`` on every parameter of ``module`` with more than one dimension, as the
    official DAB-DETR code initialises its transformer (PyTorch's Linear default would be
    Kaiming-uniform with a = sqrt(5), a narrower range)."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
