"""HGD-R pure terms: imitation measures, micro re-weighting, balanced macro weights."""

import pytest
import torch

from relkd.losses.hgd import (
    balanced_weights,
    channel_standardize,
    imitation_map,
    reweighted_stage_loss,
)


def test_l2_map_is_channel_mean_of_squares():
    s = torch.zeros(1, 2, 1, 2)
    t = torch.tensor([[1.0, 3.0], [2.0, 0.0]]).view(1, 2, 1, 2)  # channel 0: 1, 3; channel 1: 2, 0
    d = imitation_map(s, t, "l2")
    assert d.shape == (1, 1, 2)
    assert torch.allclose(d, torch.tensor([[[(1 + 4) / 2, (9 + 0) / 2]]]))


def test_smooth_l1_map_by_hand():
    s = torch.zeros(1, 2, 1, 1)
    t = torch.tensor([0.5, 2.0]).view(1, 2, 1, 1)  # 0.5 * 0.5^2 = 0.125 ; 2 - 0.5 = 1.5
    assert imitation_map(s, t, "smooth_l1").item() == pytest.approx((0.125 + 1.5) / 2)


def test_imitation_map_rejects_bad_input():
    with pytest.raises(ValueError, match="shapes differ"):
        imitation_map(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3, 3))
    with pytest.raises(ValueError, match="measure must be one of .* got 'l1'"):
        imitation_map(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), "l1")


def test_fg_and_bg_are_normalised_separately():
    # fg pixels all at distance a, bg at b: the loss is alpha*a + beta*b whatever the counts
    a, b, alpha, beta = 3.0, 0.4, 1.0, 0.5
    for n_fg in (1, 5, 15):
        g = torch.zeros(1, 4, 4, dtype=torch.bool)
        g.view(-1)[:n_fg] = True
        d = torch.where(g, torch.tensor(a), torch.tensor(b))
        assert reweighted_stage_loss(d, g, alpha, beta).item() == pytest.approx(
            alpha * a + beta * b
        )


def test_stage_without_gt_gives_only_the_background_term():
    d = torch.rand(2, 3, 3, requires_grad=True)
    g = torch.zeros(2, 3, 3, dtype=torch.bool)
    loss = reweighted_stage_loss(d, g, alpha=1.0, beta=0.5)
    assert loss.item() == pytest.approx(0.5 * d.mean().item(), rel=1e-6)
    loss.backward()
    assert torch.allclose(d.grad, torch.full_like(d, 0.5 / 18))


def test_fg_and_bg_partition_every_pixel():
    # every pixel gets exactly one of the two normalised weights
    g = torch.rand(2, 5, 5) > 0.6
    d = torch.ones(2, 5, 5, requires_grad=True)
    reweighted_stage_loss(d, g, alpha=1.0, beta=1.0).backward()
    n_fg, n_bg = g.sum().item(), (~g).sum().item()
    expected = torch.where(g, torch.tensor(1.0 / n_fg), torch.tensor(1.0 / n_bg))
    assert torch.allclose(d.grad, expected)
    assert d.grad.sum().item() == pytest.approx(2.0)  # fg weights sum to 1, bg weights to 1


def test_balanced_weights_equal_and_detached():
    r = torch.full((4,), 2.5, requires_grad=True)
    w = balanced_weights(r)
    assert not w.requires_grad
    assert torch.allclose(w, torch.full((4,), 0.25))


def test_balanced_weights_equalise_contributions():
    r = torch.tensor([12.0, 8.0, 4.0, 1.0])
    w = balanced_weights(r)
    contributions = w * r
    assert torch.allclose(contributions, torch.full((4,), r.mean().item() / 4))


def test_channel_standardize_is_affine_invariant():
    x = torch.randn(2, 3, 5, 5)
    z = channel_standardize(x)
    assert torch.allclose(z.mean(dim=(2, 3)), torch.zeros(2, 3), atol=1e-5)
    assert torch.allclose(z.var(dim=(2, 3), unbiased=False), torch.ones(2, 3), atol=1e-3)
    scale = torch.tensor([2.0, 0.5, 7.0]).view(1, 3, 1, 1)
    assert torch.allclose(channel_standardize(x * scale + 3.0), z, atol=1e-4)
