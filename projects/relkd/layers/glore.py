"""GloRe: global reasoning unit (Chen et al., CVPR 2019) as DRKD's pixel-relation module.

Pixels are projected onto ``num_nodes`` graph nodes, one graph convolution mixes the nodes and
the states, and the result is projected back and added to the input (docs/methods.md, "DRKD").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .norm import SafeBatchNorm2d


class GloRe(nn.Module):
    """Shape-preserving graph reasoning over the pixels of one feature map.

    The parameters are the official unit's 1x1 convolutions (``conv_state``, ``conv_proj``,
    ``node_conv``, ``state_conv``, ``conv_extend``, ``bn``); :meth:`forward` computes the same
    function with the products regrouped so that no ``(B, 2m, L)`` tensor is formed.

    Args:
        in_channels: ``C`` of the input ``(B, C, H, W)``.
        num_nodes: ``m`` graph nodes; the node states have ``2m`` channels.
    """

    def __init__(self, in_channels: int, num_nodes: int):
        super().__init__()
        if in_channels <= 0 or num_nodes <= 0:
            raise ValueError(
                f"GloRe: in_channels and num_nodes must be > 0, got {in_channels}, {num_nodes}"
            )
        states = 2 * num_nodes
        self.conv_state = nn.Conv2d(in_channels, states, 1)
        self.conv_proj = nn.Conv2d(in_channels, num_nodes, 1)
        self.node_conv = nn.Conv1d(num_nodes, num_nodes, 1)  # mixes nodes ("A_g")
        self.state_conv = nn.Conv1d(states, states, 1, bias=False)  # updates states ("W_g")
        self.conv_extend = nn.Conv2d(states, in_channels, 1, bias=False)
        # DRKD's code keeps BN's default init (gamma 1, beta 0), not the zero init of GloRe
        self.bn = SafeBatchNorm2d(in_channels, eps=1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``; computed in the parameters' dtype (fp32 under
        autocast), returned in ``x``'s.

        With ``X`` the ``(C, L)`` pixels of one image, ``P = W_p X + b_p`` the ``(m, L)``
        projection and ``S = W_s X + b_s`` the ``(2m, L)`` states, the unit computes
        ``V = S P^T`` (pixels to nodes), ``Z = W_g relu(V (I + A_g)^T + b_g)`` and
        ``X + BN(W_e Z P)`` (nodes back to pixels). The products are regrouped, equal in exact
        arithmetic (tests/layers/test_glore_relation.py checks it in float64):

        - ``V = W_s (X P^T) + b_s (P 1)^T``: a ``(C, m)`` intermediate instead of ``(2m, L)``
          states;
        - ``W_e Z = (W_e W_g) relu(...)``: the two weights multiplied once per call instead of
          ``W_g`` applied to every image;
        - on maps of fewer than ``2m`` pixels the node mixing goes onto the projection,
          ``V (I + A_g)^T = W_s (X P'^T) + b_s (P' 1)^T`` with ``P' = (I + A_g) P``
          (``m^2 L`` products per image instead of ``2 m^3``).

        Node-space tensors are kept node-major, ``(B, m, .)``, so that every product is one
        BLAS call without a copy.
        """
        b, c, h, w = x.shape
        m = self.conv_proj.out_channels
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.to(self.conv_proj.weight.dtype)
            pixels = xf.flatten(2)  # (B, C, L)
            n_pix = pixels.shape[2]
            # bias and product in one kernel (baddbmm): the (B, m, L) tensor is written once
            weight = self.conv_proj.weight.view(1, m, c).expand(b, m, c)
            bias = self.conv_proj.bias.view(1, m, 1).expand(b, m, n_pix)
            proj = torch.baddbmm(bias, weight, pixels)  # (B, m, L): P
            mix = self.node_conv.weight.view(1, m, m).expand(b, m, m)  # A_g
            node_bias = self.node_conv.bias[:, None]  # (m, 1): b_g, one per node row
            state_w, state_b = self.conv_state.weight.view(2 * m, c), self.conv_state.bias
            if n_pix < 2 * m:
                mixed = torch.baddbmm(proj, mix, proj)  # (B, m, L): P' = (I + A_g) P
                pooled = torch.matmul(mixed, pixels.transpose(1, 2))  # (B, m, C): P' X^T
                v = F.linear(pooled, state_w) + mixed.sum(2, keepdim=True) * state_b
                v = v + node_bias  # (B, m, 2m): (V (I + A_g)^T + b_g)^T
            else:
                pooled = torch.matmul(proj, pixels.transpose(1, 2))  # (B, m, C): P X^T
                v = F.linear(pooled, state_w) + proj.sum(2, keepdim=True) * state_b  # V^T
                v = torch.baddbmm(v + node_bias, mix, v)  # (I + A_g) V^T + b_g
            extend_w = self.conv_extend.weight.view(c, 2 * m)
            state_update = torch.matmul(extend_w, self.state_conv.weight.view(2 * m, 2 * m))
            back = F.linear(torch.relu(v), state_update)  # (B, m, C): (W_e W_g relu(.))^T
            y = torch.matmul(back.transpose(1, 2), proj).view(b, c, h, w)  # nodes -> pixels, P
            out = xf + self.bn(y)
        return out.to(x.dtype)
