"""MGD's mask and loss against a transcription of the official code, and by hand
(docs/methods.md, "MGD")."""

import pytest
import torch
from torch import nn

from relkd.losses.mgd import mgd_loss, random_keep_mask


def _generation(c: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1)
    ).double()


def _official_dis_loss(preds_s, preds_t, generation, lambda_mgd):
    """FeatureLoss.get_dis_loss (before alpha_mgd): a transcription of yzd-v/MGD,
    det/mmdet/distillation/losses/mgd.py, commit 2c9da0b28625eb948db57afc02c824452c3910fe
    (MMRazor's MGDConnector and MGDLoss, open-mmlab/mmrazor commit
    90c7af1fdf35a606a2fceaaeb4b6be2f0dac4eb7, compute the same). The mask is drawn on the CPU
    from torch's default generator, 0 where the draw exceeds 1 - lambda."""
    n, c, h, w = preds_t.shape
    mat = torch.rand((n, 1, h, w)).to(preds_s.device)
    mat = torch.where(mat > 1 - lambda_mgd, 0, 1).to(preds_s.device)
    masked = torch.mul(preds_s, mat)
    new = generation(masked)
    return nn.MSELoss(reduction="sum")(new, preds_t) / n


@pytest.mark.parametrize("lambda_mgd", [0.65, 0.45, 0.0])
def test_values_and_gradients_equal_the_official_code(lambda_mgd):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 4, 6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 4, 6, 5, generator=g, dtype=torch.float64)
    gen = _generation(4, 1)
    torch.manual_seed(7)
    ref = _official_dis_loss(s, t, gen, lambda_mgd)
    ref_grads = torch.autograd.grad(ref, (s, *gen.parameters()))
    torch.manual_seed(7)  # the same draw from the default generator
    mask = random_keep_mask(tuple(s.shape), lambda_mgd, device="cpu")
    ours = mgd_loss(gen(s * mask.double()), t)
    grads = torch.autograd.grad(ours, (s, *gen.parameters()))
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_loss_is_the_sum_of_squares_over_the_batch_size_by_hand():
    g = torch.zeros(2, 3, 2, 2)
    t = torch.zeros(2, 3, 2, 2)
    t[0, 1, 0, 1] = 2.0
    t[1, 2, 1, 1] = -3.0
    assert mgd_loss(g, t).item() == pytest.approx((4 + 9) / 2)
    # a half-precision teacher's map is compared in float32
    assert mgd_loss(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4).bfloat16()).dtype == (
        torch.float32
    )


def test_mask_shape_ratio_and_reproducibility():
    m = random_keep_mask((4, 64, 32, 32), 0.65, device="cpu")
    assert m.shape == (4, 1, 32, 32) and m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert abs((1 - m.mean().item()) - 0.65) < 0.03  # 4096 draws: 3 sd is about 0.022
    assert random_keep_mask((2, 3, 5, 5), 0.0).min().item() == 1.0
    assert random_keep_mask((2, 3, 5, 5), 1.0).max().item() == 0.0
    a = random_keep_mask((2, 3, 8, 8), 0.5, generator=torch.Generator().manual_seed(3))
    b = random_keep_mask((2, 3, 8, 8), 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    torch.manual_seed(5)
    c = random_keep_mask((2, 3, 8, 8), 0.5)
    torch.manual_seed(5)
    assert torch.equal(c, random_keep_mask((2, 3, 8, 8), 0.5))


def test_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"shapes differ, generated \(1, 2, 3, 3\) vs teacher"):
        mgd_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 4, 3))
    with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\], got 1.5"):
        random_keep_mask((1, 1, 2, 2), 1.5)
