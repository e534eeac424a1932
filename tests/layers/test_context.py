"""GlobalContext, FGD's GcBlock (docs/methods.md, "FGD"): the official initialisation, the
attention pooling by hand, precision under autocast."""

import pytest
import torch

from relkd.layers import GlobalContext


def test_official_initialisation_starts_as_the_identity():
    torch.manual_seed(0)
    block = GlobalContext(8)
    assert block.conv_mask.weight.shape == (1, 8, 1, 1)
    assert [type(m).__name__ for m in block.channel_add] == [
        "Conv2d",
        "LayerNorm",
        "ReLU",
        "Conv2d",
    ]
    assert block.channel_add[0].weight.shape == (4, 8, 1, 1)
    assert block.channel_add[1].normalized_shape == (4, 1, 1)
    assert block.channel_add[3].weight.shape == (8, 4, 1, 1)
    # last conv zero, scoring bias zero, scoring weight Kaiming-normal with fan-in 8: std 0.5
    assert not block.channel_add[3].weight.any() and not block.channel_add[3].bias.any()
    assert not block.conv_mask.bias.any()
    torch.manual_seed(1)
    std = torch.cat([GlobalContext(256).conv_mask.weight.flatten() for _ in range(8)]).std()
    assert std.item() == pytest.approx((2 / 256) ** 0.5, rel=0.05)
    x = torch.randn(2, 8, 5, 3)
    assert torch.equal(block(x), x)


def test_context_is_the_softmax_weighted_sum_of_the_positions_by_hand():
    block = GlobalContext(2)
    with torch.no_grad():
        block.conv_mask.weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))
    x = torch.zeros(1, 2, 1, 2)
    x[0, 0] = torch.tensor([0.0, 1.0])  # scores 0 and 1
    x[0, 1] = torch.tensor([3.0, 5.0])
    p = torch.softmax(torch.tensor([0.0, 1.0]), 0)
    expected = torch.stack([p[1], 3 * p[0] + 5 * p[1]]).view(1, 2, 1, 1)
    torch.testing.assert_close(block.context(x), expected)


def test_runs_in_fp32_under_autocast_and_refuses_one_channel():
    block = GlobalContext(4)
    with torch.no_grad():
        block.channel_add[3].weight.normal_()
    x = torch.randn(2, 4, 3, 3).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = block(x)
    assert y.dtype == torch.float32
    assert torch.equal(y, block(x.float()))
    with pytest.raises(ValueError, match="GlobalContext: channels must be an int >= 2, got 1"):
        GlobalContext(1)
