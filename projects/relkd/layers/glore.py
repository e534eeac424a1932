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
        ``X + BN(W_e Z P)`` (nodes back to pixels). Here ``V = W_s (X P^T) + b_s (P 1)^T`` and
        ``W_e Z P = (W_e Z) P``: equal in exact arithmetic, about a third of the products at
        ``C = m`` (a ``(C, m)`` intermediate instead of ``(2m, L)`` ones).
        """
        b, c, h, w = x.shape
        m = self.conv_proj.out_channels
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.to(self.conv_proj.weight.dtype)
            pixels = xf.flatten(2)  # (B, C, L)
            # bias and product in one kernel (baddbmm): the (B, m, L) tensor is written once
            weight = self.conv_proj.weight.view(1, m, c).expand(b, m, c)
            bias = self.conv_proj.bias.view(1, m, 1).expand(b, m, pixels.shape[2])
            proj = torch.baddbmm(bias, weight, pixels)  # (B, m, L)
            pooled = torch.matmul(pixels, proj.transpose(1, 2))  # (B, C, m): X P^T
            v = torch.matmul(self.conv_state.weight.view(2 * m, c), pooled)
            v = v + self.conv_state.bias[:, None] * proj.sum(2)[:, None, :]  # (B, 2m, m)
            v = v + F.linear(v, self.node_conv.weight.view(m, m), self.node_conv.bias)
            z = torch.matmul(self.state_conv.weight.view(2 * m, 2 * m), torch.relu(v))
            back = torch.matmul(self.conv_extend.weight.view(c, 2 * m), z)  # (B, C, m)
            y = torch.matmul(back, proj).view(b, c, h, w)  # nodes -> pixels, the same P
            out = xf + self.bn(y)
        return out.to(x.dtype)
