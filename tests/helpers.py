"""Small helpers shared by the tests."""

import torch


def set_identity(conv: torch.nn.Conv2d) -> None:
    """Make a ``C -> C`` conv (any odd kernel) the identity map: centre tap = I, bias = 0."""
    k = conv.kernel_size[0] // 2
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :, k, k].copy_(torch.eye(conv.weight.shape[0]))
        if conv.bias is not None:
            conv.bias.zero_()
