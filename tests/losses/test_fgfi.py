"""FGFI mask and loss on hand-made anchors and tensors (docs/methods.md, "FGFI")."""

import pytest
import torch

from relkd.losses.fgfi import imitation_loss, imitation_mask, imitation_masks


def _grid(h, w, stride, sizes):
    """(H, W, A, 4) square anchors of the given sizes centred on each cell."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cx, cy = (xs + 0.5) * stride, (ys + 0.5) * stride
    out = []
    for s in sizes:
        out.append(torch.stack([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], -1))
    return torch.stack(out, 2).float()


def test_hand_computed_mask():
    # one 8x8 anchor per 8-px cell on a 4x4 grid; GT covers cell (1, 1) exactly and half of (1, 2)
    anchors = [_grid(4, 4, 8, [8])]
    gt = torch.tensor([[8.0, 8.0, 20.0, 16.0]])
    # IoU with cell (1,1) = 64 / 96 = 2/3 (the max); with cell (1,2) = 32 / 128 = 1/4.
    m = imitation_mask(anchors, gt, psi=0.5)[0]  # threshold 1/3: only (1, 1)
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[1, 1] = True
    assert m.dtype == torch.bool and torch.equal(m, expected)
    m = imitation_mask(anchors, gt, psi=0.3)[0]  # threshold 0.2: (1, 2) joins
    expected[1, 2] = True
    assert torch.equal(m, expected)


def test_every_gt_marks_its_argmax_and_far_cells_never():
    torch.manual_seed(0)
    anchors = [_grid(8, 8, 8, [8, 16, 32]), _grid(4, 4, 16, [32, 64])]
    for _ in range(20):
        xy = torch.rand(3, 2) * 40
        gt = torch.cat([xy, xy + 6 + torch.rand(3, 2) * 20], 1)
        masks = imitation_mask(anchors, gt)
        for k in range(3):  # the argmax-IoU location of each GT is in the mask
            one = imitation_mask(anchors, gt[k : k + 1], psi=1e-6)
            assert any((m & o).any() for m, o in zip(masks, one))
        # a location whose anchors have IoU 0 with every GT is never masked
        from torchvision.ops import box_iou

        for a, m in zip(anchors, masks):
            zero = box_iou(a.reshape(-1, 4), gt).view(*a.shape[:3], -1).amax((-1, -2)) == 0
            assert not (m & zero).any()


def test_larger_psi_gives_subset_and_psi_one_is_empty():
    anchors = [_grid(8, 8, 8, [8, 16, 32])]
    gt = torch.tensor([[5.0, 7.0, 30.0, 41.0], [40.0, 40.0, 60.0, 50.0]])
    prev = None
    for psi in (0.1, 0.3, 0.5, 0.7, 0.9, 0.999):
        m = imitation_mask(anchors, gt, psi)[0]
        if prev is not None:
            assert not (m & ~prev).any()
        prev = m
    assert prev.sum() >= 2  # just below 1: the argmax locations remain
    assert imitation_mask(anchors, gt, 1.0)[0].sum() == 0  # strict ">"


def test_global_vs_per_level_max():
    # level 0 has an anchor equal to the GT (IoU 1); level 1's best anchor has IoU 0.25
    lv0 = torch.tensor([[[[0.0, 0.0, 8.0, 8.0]]]])  # (1, 1, 1, 4)
    lv1 = torch.tensor([[[[0.0, 0.0, 16.0, 16.0]]]])
    gt = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    glob = imitation_mask([lv0, lv1], gt, 0.5)
    per = imitation_mask([lv0, lv1], gt, 0.5, per_level_max=True)
    assert glob[0].item() and not glob[1].item()  # 0.25 < 0.5 * 1
    assert per[0].item() and per[1].item()  # 0.25 > 0.5 * 0.25


def test_no_gt_and_degenerate_gt():
    anchors = [_grid(2, 2, 8, [8])]
    assert not imitation_mask(anchors, torch.zeros(0, 4))[0].any()
    assert not imitation_mask(anchors, torch.tensor([[4.0, 4.0, 4.0, 9.0]]))[0].any()
    with pytest.raises(ValueError, match="psi must be in \\(0, 1\\], got 0"):
        imitation_mask(anchors, torch.zeros(0, 4), psi=0)


def test_loss_normalisation_lambda_c_d2_over_2():
    # constant difference d on every channel at masked cells: loss = C * d^2 / 2 (per-location N_p)
    b, c, d = 2, 5, 0.7
    s = [torch.zeros(b, c, 4, 4), torch.zeros(b, c, 2, 2)]
    t = [torch.full((b, c, 4, 4), d), torch.full((b, c, 2, 2), d)]
    masks = [torch.rand(b, 4, 4) > 0.5, torch.rand(b, 2, 2) > 0.3]
    masks[0][0, 0, 0] = True
    assert imitation_loss(s, t, masks).item() == pytest.approx(c * d * d / 2, rel=1e-6)


def test_loss_ignores_outside_and_zero_gradient_there():
    s = torch.randn(1, 3, 4, 4, requires_grad=True)
    t = torch.randn(1, 3, 4, 4)
    m = torch.zeros(1, 4, 4, dtype=torch.bool)
    m[0, 1:3, 2] = True
    loss = imitation_loss([s], [t], [m])
    s2, t2 = s.detach().clone(), t.clone()
    s2[..., 0, 0] += 10
    t2[..., 3, 3] -= 10
    assert imitation_loss([s2], [t2], [m]).item() == pytest.approx(loss.item())
    loss.backward()
    assert torch.count_nonzero(s.grad * (~m)[:, None]) == 0
    # d/ds = 2 (s - t) / (2 N_p) with N_p = 2 masked locations
    assert torch.allclose(s.grad * m[:, None], (s - t).detach() * m[:, None] / 2)


def test_identical_is_zero_and_empty_is_connected_zero():
    s = torch.randn(2, 3, 4, 4, requires_grad=True)
    m = torch.ones(2, 4, 4, dtype=torch.bool)
    assert imitation_loss([s], [s.detach().clone()], [m]).item() == 0.0
    loss = imitation_loss([s], [torch.randn(2, 3, 4, 4)], [torch.zeros(2, 4, 4, dtype=torch.bool)])
    assert loss.item() == 0.0
    loss.backward()
    assert s.grad is not None and torch.count_nonzero(s.grad) == 0


def _reference_mask(anchors, gt, psi, per_level_max):
    """The definition, one image at a time, with torchvision's box_iou."""
    from torchvision.ops import box_iou

    if len(gt) == 0:
        return [torch.zeros(a.shape[:2], dtype=torch.bool) for a in anchors]
    ious = [box_iou(a.reshape(-1, 4), gt) for a in anchors]
    best = [iou.max(0).values for iou in ious]
    if not per_level_max:
        best = [torch.stack(best).max(0).values] * len(ious)
    return [
        (iou > psi * m).any(1).view(a.shape[:3]).any(-1) for iou, m, a in zip(ious, best, anchors)
    ]


@pytest.mark.parametrize("per_level_max", [False, True])
def test_batched_masks_equal_the_per_image_definition(per_level_max):
    g = torch.Generator().manual_seed(0)

    def boxes(n, scale):
        xy = torch.rand(n, 2, generator=g) * 60
        return torch.cat((xy, xy + torch.rand(n, 2, generator=g) * scale), 1)

    levels = [boxes(8 * 8 * 3, 20).view(8, 8, 3, 4), boxes(4 * 4 * 3, 40).view(4, 4, 3, 4)]
    gts = [boxes(5, 30), torch.zeros(0, 4), boxes(1, 10), boxes(3, 0.0)]  # none; zero-area
    batched = imitation_masks(levels, gts, 0.5, per_level_max)
    assert [m.shape for m in batched] == [(4, 8, 8), (4, 4, 4)]
    # The batched IoU and torchvision's box_iou are two computations, each exact to a few float32
    # ulps (relative 1e-7): a cell may differ only where some IoU lies within that of the
    # threshold. So the batched mask must lie between the definition at psi * (1 + 1e-5) (fewer
    # cells) and at psi * (1 - 1e-5) (more cells); a real error moves whole cells beyond both.
    for i, gt in enumerate(gts):
        inner = _reference_mask(levels, gt, 0.5 * (1 + 1e-5), per_level_max)
        outer = _reference_mask(levels, gt, 0.5 * (1 - 1e-5), per_level_max)
        for lv in range(2):
            got = batched[lv][i]
            assert not (inner[lv] & ~got).any() and not (got & ~outer[lv]).any(), (i, lv)
    assert batched[0][0].any() and not batched[0][1].any() and not batched[0][3].any()
