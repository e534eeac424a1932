"""Batch normalisation that survives a batch with one value per channel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SafeBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` that normalises with its running statistics (without updating them)
    when a training batch holds a single value per channel, where ``BatchNorm2d`` raises.

    That happens with one image per GPU on a ``1 x 1`` map: RetinaNet's p7 of a 128-pixel
    image, or ``res5`` of a 32-pixel one. Parameters and buffers are ``BatchNorm2d``'s, so
    checkpoints are interchangeable.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)
