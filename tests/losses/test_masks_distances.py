"""Hand-computed checks of the GT-box mask and the masked MSE."""

import pytest
import torch

from relkd.losses.distances import masked_mse
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
