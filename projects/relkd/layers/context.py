"""GlobalContext: the global context block of GCNet (Cao et al., ICCVW 2019) as FGD's relation
module, one per side and level (docs/methods.md, "FGD")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GlobalContext(nn.Module):
    """A GcBlock with attention pooling and channel-add fusion, shape-preserving.

    Context modelling: a 1x1 conv ``C -> 1`` scores each position, a softmax over the positions
    turns the scores into weights, and the weighted sum of the positions' features is one
    ``C``-vector per image. Transform: 1x1 conv ``C -> C/2``, LayerNorm over the ``C/2``
    channels, ReLU, 1x1 conv ``C/2 -> C``. The result is added to every position of the input.

    Initialisation as in FGD's official code: the scoring conv Kaiming-normal (fan-in, ReLU
    gain) with a zero bias, the last conv all zeros (weight and bias), so that the block starts
    as the identity; the first conv and the LayerNorm keep PyTorch's defaults. The scoring
    conv's bias shifts every score of an image alike, which the softmax ignores: it never
    receives a gradient beyond rounding.

    Args:
        channels: ``C`` of the input ``(N, C, H, W)``, at least 2.
    """

    def __init__(self, channels: int):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 2:
            raise ValueError(f"GlobalContext: channels must be an int >= 2, got {channels!r}")
        hidden = channels // 2
        self.conv_mask = nn.Conv2d(channels, 1, kernel_size=1)
        self.channel_add = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.LayerNorm([hidden, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation (see the class docstring)."""
        nn.init.kaiming_normal_(self.conv_mask.weight, a=0, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.conv_mask.bias)
        nn.init.zeros_(self.channel_add[-1].weight)
        nn.init.zeros_(self.channel_add[-1].bias)

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, C, 1, 1)``: the softmax-weighted sum of the positions."""
        n, c, h, w = x.shape
        scores = self.conv_mask(x).reshape(n, 1, h * w)
        weights = F.softmax(scores, dim=2)  # (N, 1, HW)
        pooled = torch.bmm(x.reshape(n, c, h * w), weights.transpose(1, 2))  # (N, C, 1)
        return pooled.reshape(n, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, C, H, W)``: ``x`` plus the transformed context on every
        position. Computed and returned in the parameters' dtype (fp32 under autocast, and for
        a half-precision teacher's map)."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.to(self.conv_mask.weight.dtype)
            return xf + self.channel_add(self.context(xf))
