"""Property-based tests (hypothesis): the pure loss functions on random shapes and boxes."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from relkd.losses.distances import masked_mse
from relkd.losses.drkd import feature_distance
from relkd.losses.fgfi import imitation_loss, imitation_mask
from relkd.losses.hgd import imitation_map, reweighted_stage_loss
from relkd.losses.masks import box_foreground_mask

SETTINGS = settings(max_examples=40, deadline=None)
coord = st.floats(-40.0, 140.0, allow_nan=False, width=32)


@st.composite
def boxes(draw, max_n=6):
    """``(K, 4)`` xyxy boxes, zero-area, inverted-free, possibly outside a 128 px image."""
    n = draw(st.integers(0, max_n))
    out = []
    for _ in range(n):
        x0, y0 = draw(coord), draw(coord)
        w, h = draw(st.floats(0.0, 80.0, width=32)), draw(st.floats(0.0, 80.0, width=32))
        out.append([x0, y0, x0 + w, y0 + h])
    return torch.tensor(out, dtype=torch.float32).reshape(-1, 4)


def _anchor_grid(h, w, stride, sizes):
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cx, cy = (xs.float() + 0.5) * stride, (ys.float() + 0.5) * stride
    grids = [torch.stack([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], -1) for s in sizes]
    return torch.stack(grids, 2)  # (H, W, A, 4)


LEVELS = [_anchor_grid(16, 16, 8, (16.0, 24.0)), _anchor_grid(8, 8, 16, (32.0, 48.0))]


@SETTINGS
@given(gt=boxes(), psi=st.floats(0.05, 1.0), dpsi=st.floats(0.0, 0.9))
def test_mask_is_monotone_in_psi_and_needs_overlap(gt, psi, dpsi):
    lo = imitation_mask(LEVELS, gt, psi)
    hi = imitation_mask(LEVELS, gt, min(1.0, psi + dpsi))
    for a, b, grid in zip(lo, hi, LEVELS):
        assert a.dtype == torch.bool and a.shape == grid.shape[:2]
        assert not (b & ~a).any()  # a larger psi gives a subset
        if len(gt):
            from torchvision.ops import box_iou

            touches = (box_iou(grid.reshape(-1, 4), gt) > 0).any(1).view(grid.shape[:3]).any(-1)
            assert not (a & ~touches).any()  # never masked without overlapping some GT
        else:
            assert not a.any()


@SETTINGS
@given(
    b=st.integers(1, 3),
    c=st.integers(1, 5),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    scale=st.floats(0.0, 1e3),
    seed=st.integers(0, 2**16),
)
def test_distances_finite_nonnegative_and_zero_on_equal(b, c, h, w, scale, seed):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(b, c, h, w, generator=g) * scale
    t = torch.randn(b, c, h, w, generator=g) * scale
    m = torch.rand(b, h, w, generator=g) > 0.5
    for v in (
        masked_mse(s, t, m),
        masked_mse(s, t),
        feature_distance(s, t, "fro"),
        feature_distance(s, t, "mse"),
        imitation_loss([s], [t], [m]),
    ):
        assert torch.isfinite(v) and v >= 0
    assert masked_mse(s, s, m) == 0 and feature_distance(t, t) == 0
    assert imitation_loss([s], [s], [m]) == 0
    # fro is symmetric; mse without a mask equals the masked one with an all-true mask
    assert torch.isclose(feature_distance(s, t), feature_distance(t, s))
    assert torch.isclose(masked_mse(s, t), masked_mse(s, t, torch.ones_like(m)), rtol=1e-5)


@SETTINGS
@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    alpha=st.floats(0.0, 3.0),
    beta=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**16),
    measure=st.sampled_from(["l2", "smooth_l1"]),
)
def test_stage_loss_bounded_by_extremes(h, w, alpha, beta, seed, measure):
    g = torch.Generator().manual_seed(seed)
    d = imitation_map(
        torch.randn(2, 3, h, w, generator=g), torch.randn(2, 3, h, w, generator=g), measure
    )
    m = torch.rand(2, h, w, generator=g) > 0.5
    loss = reweighted_stage_loss(d, m, alpha, beta)
    assert torch.isfinite(loss)
    # each part is a mean over its pixels, so the total lies within (alpha + beta) * [min, max]
    assert -1e-5 <= loss <= (alpha + beta) * d.max() + 1e-5
    assert loss >= (alpha * m.any() + beta * (~m).any()) * d.min() - 1e-4


@SETTINGS
@given(gt=boxes(), stride=st.sampled_from([4, 8, 16, 32]))
def test_box_mask_marks_exactly_cells_with_centre_inside(gt, stride):
    size = (128 // stride, 128 // stride)
    mask = box_foreground_mask([gt], size, stride)[0]
    ys = (torch.arange(size[0]) + 0.5) * stride
    xs = (torch.arange(size[1]) + 0.5) * stride
    expected = torch.zeros(size, dtype=torch.bool)
    for x0, y0, x1, y1 in gt.tolist():
        expected |= ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
    # bitwise: cell centres (i + 0.5) * stride are exact in float32, and so are the comparisons
    assert torch.equal(mask, expected)
