"""CWD's loss against a transcription of the official code, by hand on two positions, zero for
identical maps and its temperature scaling (docs/methods.md, "CWD")."""

import math

import pytest
import torch
import torch.nn.functional as F

from relkd.losses.cwd import cwd_loss


def _official_cwd(preds_s: torch.Tensor, preds_t: torch.Tensor, tau: float) -> torch.Tensor:
    """ChannelWiseDivergence.forward before its loss_weight: a transcription of
    open-mmlab/mmrazor, mmrazor/models/losses/cwd.py, commit
    90c7af1fdf35a606a2fceaaeb4b6be2f0dac4eb7 (rows of W * H positions, the teacher's softmax
    times the difference of log-softmaxes, summed, times tau^2, over C * N)."""
    n, c, h, w = preds_s.shape
    soft_t = F.softmax(preds_t.reshape(-1, w * h) / tau, dim=1)
    log_t = F.log_softmax(preds_t.reshape(-1, w * h) / tau, dim=1)
    log_s = F.log_softmax(preds_s.reshape(-1, w * h) / tau, dim=1)
    return torch.sum(soft_t * log_t - soft_t * log_s) * tau**2 / (c * n)


def _pair(shape, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(shape, generator=g, dtype=dtype) * 2).requires_grad_()
    t = (torch.randn(shape, generator=g, dtype=dtype) * 3 + 1).requires_grad_()
    return s, t


@pytest.mark.parametrize("tau", [1.0, 4.0, 0.5])
@pytest.mark.parametrize("shape", [(2, 4, 5, 7), (1, 1, 3, 3), (3, 6, 1, 4)])
def test_values_and_gradients_equal_the_official_code(shape, tau):
    s, t = _pair(shape, 0)
    ours = cwd_loss(s, t, tau)
    gs, gt = torch.autograd.grad(ours, (s, t))
    ref = _official_cwd(s, t, tau)
    rs, rt = torch.autograd.grad(ref, (s, t))
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(gs, rs, rtol=1e-9, atol=1e-14)
    torch.testing.assert_close(gt, rt, rtol=1e-9, atol=1e-14)


def test_float32_and_half_inputs():
    s, t = _pair((2, 4, 6, 6), 1, torch.float32)
    assert cwd_loss(s, t).dtype == torch.float32
    ref = _official_cwd(s.double(), t.double(), 2.0)
    torch.testing.assert_close(cwd_loss(s, t, 2.0).double(), ref, rtol=1e-5, atol=0)
    got = cwd_loss(s, t.bfloat16(), 2.0)
    assert got.dtype == torch.float32
    ref = _official_cwd(s.double(), t.bfloat16().double(), 2.0)
    torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=0)


def test_two_positions_by_hand():
    # one channel over two positions: p_t = (3/4, 1/4), p_s = (1/2, 1/2)
    s = torch.zeros(1, 1, 1, 2, dtype=torch.float64)
    t = torch.tensor([math.log(3.0), 0.0], dtype=torch.float64).view(1, 1, 1, 2)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert cwd_loss(s, t, 1.0).item() == pytest.approx(kl, rel=1e-12)
    # two images and three channels of that map: a mean over N * C, not a sum
    assert cwd_loss(s.expand(2, 3, 1, 2), t.expand(2, 3, 1, 2)).item() == pytest.approx(kl)


def test_identical_maps_give_zero_and_no_gradient():
    s, _ = _pair((2, 3, 4, 4), 2)
    loss = cwd_loss(s, s.detach().clone(), 3.0)
    assert loss.item() == 0.0
    (g,) = torch.autograd.grad(loss, s)
    assert g.abs().max().item() < 1e-15


def test_scaled_by_tau_squared():
    # softmax(tau * x / tau) = softmax(x): with inputs multiplied by tau, the loss at tau is
    # tau^2 times the loss at 1 (the tau^2 factor that keeps the gradients' scale)
    s, t = _pair((2, 3, 4, 5), 3)
    for tau in (0.5, 2.0, 4.0):
        assert cwd_loss(tau * s, tau * t, tau).item() == pytest.approx(
            tau**2 * cwd_loss(s, t, 1.0).item(), rel=1e-10
        )


def test_each_channel_is_a_distribution_offsets_do_not_matter():
    s, t = _pair((2, 3, 4, 4), 4)
    offsets = torch.randn(2, 3, 1, 1, dtype=torch.float64) * 100
    assert cwd_loss(s + offsets, t - offsets, 2.0).item() == pytest.approx(
        cwd_loss(s, t, 2.0).item(), rel=1e-9
    )


def test_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"shapes differ, student \(1, 2, 3, 3\) vs teacher"):
        cwd_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3, 3))
    with pytest.raises(ValueError, match="tau must be > 0, got 0"):
        cwd_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), 0)
