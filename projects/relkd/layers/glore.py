"""GloRe: global reasoning unit (Chen et al., CVPR 2019) as DRKD's pixel-relation module.

Pixels are projected onto ``num_nodes`` graph nodes, one graph convolution mixes the nodes and
the states, and the result is projected back and added to the input (docs/methods.md, "DRKD").
"""

from __future__ import annotations

import torch
from torch import nn

from .norm import SafeBatchNorm2d


class GloRe(nn.Module):
    """Shape-preserving graph reasoning over the pixels of one feature map.

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
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``; the graph products run in fp32."""
        b, _, h, w = x.shape
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.float()
            states = self.conv_state(xf).flatten(2)  # (B, 2m, L)
            proj = self.conv_proj(xf).flatten(2)  # (B, m, L)
            v = states @ proj.transpose(1, 2)  # (B, 2m, m): pixels -> nodes, no 1/L
            v = self.node_conv(v.transpose(1, 2)).transpose(1, 2) + v  # (I + A_g) V
            z = self.state_conv(self.relu(v))  # (B, 2m, m)
            y = (z @ proj).view(b, -1, h, w)  # nodes -> pixels with the same projection
            out = xf + self.bn(self.conv_extend(y))
        return out.to(x.dtype)
