"""PKD's loss against a transcription of the official code, its invariances and a Pearson
correlation computed by hand (docs/methods.md, "PKD")."""

import pytest
import torch
import torch.nn.functional as F

from relkd.losses.pkd import pkd_loss, standardise


def _official_pkd(preds_s: torch.Tensor, preds_t: torch.Tensor) -> torch.Tensor:
    """PKDLoss.forward for one level of equal size, before its loss_weight: a transcription of
    open-mmlab/mmrazor, mmrazor/models/losses/pkd_loss.py, commit
    90c7af1fdf35a606a2fceaaeb4b6be2f0dac4eb7 (``norm``: channels first, flattened over N, H, W,
    unbiased std plus 1e-6; then ``F.mse_loss / 2``)."""

    def norm(feat):
        n, c, h, w = feat.shape
        flat = feat.permute(1, 0, 2, 3).reshape(c, -1)
        mean = flat.mean(dim=-1, keepdim=True)
        std = flat.std(dim=-1, keepdim=True)
        flat = (flat - mean) / (std + 1e-6)
        return flat.reshape(c, n, h, w).permute(1, 0, 2, 3)

    return F.mse_loss(norm(preds_s), norm(preds_t)) / 2


def _pair(shape, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(shape, generator=g, dtype=dtype) * 3 + 1).requires_grad_()
    t = (torch.randn(shape, generator=g, dtype=dtype) * 0.2 - 2).requires_grad_()
    return s, t


@pytest.mark.parametrize("shape", [(2, 4, 5, 7), (1, 3, 2, 2), (3, 1, 4, 1), (2, 8, 6, 6)])
def test_values_and_gradients_equal_the_official_code(shape):
    s, t = _pair(shape, 0)
    ours = pkd_loss(s, t)
    gs, gt = torch.autograd.grad(ours, (s, t))
    ref = _official_pkd(s, t)
    rs, rt = torch.autograd.grad(ref, (s, t))
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(gs, rs, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(gt, rt, rtol=1e-10, atol=1e-14)


def test_float32_and_half_inputs_agree_with_the_official_code_in_float64():
    s, t = _pair((2, 4, 6, 6), 1, torch.float32)
    ref = _official_pkd(s.double(), t.double())
    assert pkd_loss(s, t).dtype == torch.float32
    torch.testing.assert_close(pkd_loss(s, t).double(), ref, rtol=1e-5, atol=0)
    # a bf16 map (a half-precision teacher) is standardised in float32
    got = pkd_loss(s, t.bfloat16())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), _official_pkd(s.double(), t.bfloat16().double()))


def test_invariant_to_a_per_channel_affine_map_of_either_side():
    s, t = _pair((2, 5, 4, 4), 2)
    base = pkd_loss(s, t).item()
    g = torch.Generator().manual_seed(3)
    scale = torch.rand(1, 5, 1, 1, generator=g, dtype=torch.float64) * 20 + 0.05  # > 0
    shift = torch.randn(1, 5, 1, 1, generator=g, dtype=torch.float64) * 50
    # the eps added to the std is the only thing a scale moves: relative 1e-6 / std at most
    assert pkd_loss(s * scale + shift, t).item() == pytest.approx(base, rel=1e-4)
    assert pkd_loss(s, t * scale - shift).item() == pytest.approx(base, rel=1e-4)
    assert pkd_loss(s * scale, t * scale + shift).item() == pytest.approx(base, rel=1e-4)


def test_equals_one_minus_the_pearson_correlation_by_hand():
    # per channel, sum of standardised squares = (M - 1) (unbiased std), so without eps the loss
    # is mean_c (M - 1) / M * (1 - r_c), r_c the Pearson correlation over the M = N H W values
    s, t = _pair((3, 4, 5, 2), 4)
    m = 3 * 5 * 2
    r = torch.stack(
        [
            torch.corrcoef(torch.stack([s[:, c].flatten(), t[:, c].flatten()]))[0, 1]
            for c in range(4)
        ]
    )
    by_hand = ((m - 1) / m * (1 - r)).mean()
    assert pkd_loss(s, t).item() == pytest.approx(by_hand.item(), rel=1e-5)
    # identical maps: 0; a channel-wise negated teacher: (M - 1) / M * 2
    assert pkd_loss(s, s.detach().clone()).item() == pytest.approx(0.0, abs=1e-12)
    assert pkd_loss(s, -s.detach()).item() == pytest.approx(2 * (m - 1) / m, rel=1e-5)


def test_statistics_are_over_the_batch_and_the_positions_not_per_image():
    # two images whose channel differs only by an offset: standardised per image they would be
    # equal; over the batch they are not
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    batch = torch.cat([x, x + 10])
    z = standardise(batch)
    assert z.mean().abs() < 1e-12 and (z.std() - 1).abs() < 1e-5
    assert not torch.allclose(z[0], z[1])


def test_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"shapes differ, student \(1, 2, 3, 3\) vs teacher"):
        pkd_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))
    # one value per channel: the unbiased std would be NaN
    with pytest.raises(ValueError, match=r"\(1, 2, 1, 1\) holds 1 value\(s\)"):
        pkd_loss(torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 1))
    with pytest.raises(ValueError, match=r"expected \(N, C, H, W\), got shape \(2, 3\)"):
        standardise(torch.zeros(2, 3))
