"""Hand-computed checks of the GT-box mask, the masked MSE and the grouped DRKD distance."""

import pytest
import torch

from relkd.losses.distances import masked_mse
from relkd.losses.drkd import feature_distance, grouped_distance
from relkd.losses.masks import box_foreground_mask


def test_box_mask_cell_centres():
    # stride 4: cell (i, j) has centre (4j + 2, 4i + 2). Box x in [0, 8), y in [4, 12):
    # columns 0, 1 (centres 2, 6) and rows 1, 2 (centres 6, 10).
    boxes = [torch.tensor([[0.0, 4.0, 8.0, 12.0]]), torch.zeros(0, 4)]
    m = box_foreground_mask(boxes, (4, 4), stride=4)
    expected = torch.zeros(2, 4, 4, dtype=torch.bool)
    expected[0, 1:3, 0:2] = True
    assert m.dtype == torch.bool and m.shape == (2, 4, 4)
    assert torch.equal(m, expected)


def test_box_mask_union_of_boxes():
    boxes = [torch.tensor([[0.0, 0.0, 4.0, 4.0], [12.0, 12.0, 16.0, 16.0]])]
    m = box_foreground_mask(boxes, (4, 4), stride=4)
    assert m[0, 0, 0] and m[0, 3, 3] and m.sum() == 2


def test_masked_mse_values():
    s = torch.zeros(1, 2, 2, 2)
    t = torch.zeros(1, 2, 2, 2)
    t[0, :, 0, 0] = 3.0  # inside the mask: squared error 9 on both channels
    t[0, :, 1, 1] = 100.0  # outside the mask: must not count
    mask = torch.tensor([[[True, False], [False, False]]])
    assert masked_mse(s, t, mask).item() == pytest.approx(9.0)
    # unmasked: (2 * 9 + 2 * 10000) / 8
    assert masked_mse(s, t).item() == pytest.approx((18 + 20000) / 8)


def test_masked_mse_empty_mask_is_connected_zero():
    s = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss = masked_mse(s, torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert s.grad is not None and torch.count_nonzero(s.grad) == 0


def test_masked_mse_gradient_only_inside_mask():
    s = torch.randn(1, 2, 3, 3, requires_grad=True)
    mask = torch.zeros(1, 3, 3, dtype=torch.bool)
    mask[0, 1, 1] = True
    masked_mse(s, torch.zeros(1, 2, 3, 3), mask).backward()
    grad_outside = s.grad.clone()
    grad_outside[:, :, 1, 1] = 0
    assert torch.count_nonzero(grad_outside) == 0
    # d/ds of sum(s^2)/(C * N) at the masked cell = 2 s / 2
    assert torch.allclose(s.grad[0, :, 1, 1], s.detach()[0, :, 1, 1])


def test_masked_mse_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        masked_mse(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3, 3))


def test_fro_distance_is_torch_dist_with_its_gradients():
    # the official code's torch.dist: same value and gradients for both inputs (within 1e-6:
    # the backward scales the saved difference instead of recomputing it), 0 gradient at
    # identical inputs, and sqrt(sum of squares) by hand
    torch.manual_seed(0)
    s = torch.randn(2, 3, 5, 4, requires_grad=True)
    t = torch.randn(2, 3, 5, 4, requires_grad=True)
    got = feature_distance(s, t, "fro")
    got.backward()
    grads, s.grad, t.grad = (s.grad.clone(), t.grad.clone()), None, None
    want = torch.dist(s, t, p=2)
    want.backward()
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)
    torch.testing.assert_close(grads, (s.grad, t.grad), rtol=1e-6, atol=1e-8)
    assert torch.equal(grads[0], -grads[1])
    assert got.item() == pytest.approx((s - t).pow(2).sum().sqrt().item(), rel=1e-6)
    same = s.detach().clone().requires_grad_()
    feature_distance(same, s.detach(), "fro").backward()
    assert same.grad is not None and torch.count_nonzero(same.grad) == 0


@pytest.mark.parametrize("norm", ["fro", "mse"])
def test_grouped_distance_is_the_sum_of_per_image_distances(norm):
    counts = [2, 0, 3, 1]
    torch.manual_seed(0)
    s = torch.randn(6, 4, 3, 3, requires_grad=True)
    t = torch.randn(6, 4, 3, 3)
    t[5] = s[5].detach()  # the last image's rows are equal: distance 0, gradient 0
    got = grouped_distance(s, t, counts, norm)
    got.backward()
    grad, s.grad = s.grad.clone(), None
    ref = sum(
        feature_distance(a, b, norm) for a, b in zip(s.split(counts), t.split(counts)) if len(a)
    )
    ref.backward()
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(grad, s.grad, atol=1e-6) and grad[5].abs().max() == 0
    # by hand for the first image: sqrt of the sum of squares, or their mean over 2*36 values
    sq = (s[:2] - t[:2]).pow(2).sum().item()
    first = grouped_distance(s[:2], t[:2], [2], norm).item()
    assert first == pytest.approx(sq**0.5 if norm == "fro" else sq / 72, rel=1e-6)


def test_grouped_distance_errors():
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"counts \[1, 1\] sum to 2, not the 3 rows"):
        grouped_distance(x, x, [1, 1])
    with pytest.raises(ValueError, match="shapes differ"):
        grouped_distance(x, torch.zeros(3, 3), [3])
    with pytest.raises(ValueError, match="norm must be one of"):
        grouped_distance(x, x, [3], "l1")
