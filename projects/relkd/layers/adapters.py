"""Student-side adapters that map student features to the teacher's channel count."""

from __future__ import annotations

from torch import nn

from .norm import SafeBatchNorm2d


def conv_adapter(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 1,
    *,
    relu: bool = False,
    norm: bool = False,
    init_std: float | None = None,
) -> nn.Sequential:
    """``Conv(k x k)`` [+ BN] [+ ReLU] from ``C_s`` to ``C_t`` channels, shape-preserving in H, W.

    Args:
        init_std: if given, weights are drawn as ``normal_().fmod_(2) * init_std`` (FGFI's
            truncated-normal init); otherwise PyTorch's default init. Biases keep the default.
    """
    conv = nn.Conv2d(
        in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=not norm
    )
    if init_std is not None:
        conv.weight.data.normal_().fmod_(2).mul_(init_std)
    layers: list[nn.Module] = [conv]
    if norm:
        layers.append(SafeBatchNorm2d(out_channels))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
