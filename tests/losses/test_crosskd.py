"""CrossKD's three losses: values computed by hand on tiny tensors, and values and gradients
against direct transcriptions of the formulas of docs/methods.md, "CrossKD"."""

import math

import pytest
import torch
from torchvision.ops import generalized_box_iou_loss

from relkd.losses.crosskd import giou_kd, quality_focal_kd, softmax_kd


def _qfl(s: torch.Tensor, t: torch.Tensor, beta: float) -> torch.Tensor:
    """QFL written out: -(q log p + (1 - q) log(1 - p)) |p - q|^beta, p = sigmoid(s), q =
    sigmoid(t) detached; summed over classes, averaged over rows."""
    p, q = torch.sigmoid(s), torch.sigmoid(t).detach()
    bce = -(q * torch.log(p) + (1 - q) * torch.log(1 - p))
    return (bce * (p - q).abs() ** beta).sum(dim=1).mean()


def _giou_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - GIoU written out, averaged over rows (the teacher's boxes b detached)."""
    b = b.detach()
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a) + area(b) - inter
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    ch = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    enclosing = cw * ch
    return (1 - (inter / union - (enclosing - union) / enclosing)).mean()


def _kl(s: torch.Tensor, t: torch.Tensor, temp: float) -> torch.Tensor:
    """T^2 sum_c q_c log(q_c / p_c), q = softmax(t / T) detached, p = softmax(s / T); mean."""
    q = torch.softmax(t.detach() / temp, dim=1)
    p = torch.softmax(s / temp, dim=1)
    return temp**2 * (q * torch.log(q / p)).sum(dim=1).mean()


def _logits(shape, seed):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(shape, generator=g, dtype=torch.float64) * 2).requires_grad_()
    t = (torch.randn(shape, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    return s, t


def _boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 20
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 10 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_qfl_by_hand():
    # student logits 0, 0 (p = 1/2); teacher scores 3/4 and 1/2: the first logit gives
    # BCE = -(3/4 ln 1/2 + 1/4 ln 1/2) = ln 2 times |1/2 - 3/4|^2 = 1/16, the second 0
    s = torch.zeros(1, 2)
    t = torch.tensor([[math.log(3.0), 0.0]])
    assert quality_focal_kd(s, t, beta=2.0).item() == pytest.approx(math.log(2) / 16, rel=1e-6)
    # beta = 0: plain soft BCE, ln 2 for each logit
    assert quality_focal_kd(s, t, beta=0.0).item() == pytest.approx(2 * math.log(2), rel=1e-6)
    # two locations: the mean over them
    two = quality_focal_kd(torch.zeros(2, 2), torch.cat([t, torch.zeros(1, 2)]), beta=2.0)
    assert two.item() == pytest.approx(math.log(2) / 32, rel=1e-6)


def test_giou_by_hand():
    # (0,0,2,2) and (1,1,3,3): intersection 1, union 7, enclosing 9: GIoU = 1/7 - 2/9 = -5/63
    a = torch.tensor([[0.0, 0, 2, 2], [4, 4, 8, 6]])
    b = torch.tensor([[1.0, 1, 3, 3], [4, 4, 8, 6]])  # the second pair: identical, loss 0
    assert giou_kd(a, b).item() == pytest.approx((1 + 5 / 63) / 2, rel=1e-6)
    # disjoint: (0,0,1,1) and (2,0,3,1): IoU 0, enclosing 3, union 2: GIoU = -1/3
    far = giou_kd(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[2.0, 0, 3, 1]]))
    assert far.item() == pytest.approx(4 / 3, rel=1e-6)


def test_softmax_kd_by_hand():
    # teacher uniform over 2 classes, student (3/4, 1/4): KL = 1/2 ln(2/3) + 1/2 ln 2
    s, t = torch.tensor([[math.log(3.0), 0.0]]), torch.zeros(1, 2)
    assert softmax_kd(s, t, 1.0).item() == pytest.approx(0.5 * math.log(4 / 3), rel=1e-6)
    # T = 2: both divided by 2 (student (sqrt 3, 1) / (sqrt 3 + 1)), times T^2 = 4
    p = math.sqrt(3) / (math.sqrt(3) + 1)
    want = 4 * (0.5 * math.log(0.5 / p) + 0.5 * math.log(0.5 / (1 - p)))
    assert softmax_kd(s, t, 2.0).item() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5, 0.0])
def test_qfl_values_and_gradients_equal_the_formula(beta):
    s, t = _logits((7, 5), 0)
    ours = quality_focal_kd(s, t, beta)
    gs, gt = torch.autograd.grad(ours, (s, t), allow_unused=True)
    ref = _qfl(s, t, beta)
    (rs,) = torch.autograd.grad(ref, (s,))
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(gs, rs, rtol=1e-10, atol=1e-14)
    assert gt is None  # the teacher's side is detached


def test_giou_values_and_gradients_equal_the_formula_and_torchvision():
    a = _boxes(9, 1).requires_grad_()
    b = _boxes(9, 2)
    b[0] = a[0].detach()  # one identical pair
    b[1] = a[1].detach() + torch.tensor([30.0, 0, 30, 0], dtype=torch.float64)  # one disjoint
    ours = giou_kd(a, b)
    (ga,) = torch.autograd.grad(ours, (a,))
    ref = _giou_loss(a, b)
    (ra,) = torch.autograd.grad(ref, (a,))
    # eps 1e-7 in the denominators: relative 1e-7-ish on boxes of area ~ 1 to 100
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=0)
    torch.testing.assert_close(ga, ra, rtol=1e-5, atol=1e-9)
    vision = generalized_box_iou_loss(a.detach(), b, reduction="mean")
    torch.testing.assert_close(ours.detach(), vision, rtol=1e-12, atol=0)


@pytest.mark.parametrize("temp", [1.0, 2.0, 0.5])
def test_softmax_kd_values_and_gradients_equal_the_formula(temp):
    s, t = _logits((6, 11), 3)
    ours = softmax_kd(s, t, temp)
    gs, gt = torch.autograd.grad(ours, (s, t), allow_unused=True)
    ref = _kl(s, t, temp)
    (rs,) = torch.autograd.grad(ref, (s,))
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(gs, rs, rtol=1e-10, atol=1e-14)
    assert gt is None


def test_equal_inputs_give_zero_except_the_soft_bce():
    s, _ = _logits((4, 3), 5)
    assert quality_focal_kd(s, s, 2.0).item() == 0.0  # |p - q|^beta = 0
    assert softmax_kd(s, s, 1.0).item() == pytest.approx(0.0, abs=1e-12)
    b = _boxes(4, 6)
    assert giou_kd(b, b).item() == pytest.approx(0.0, abs=1e-6)


def test_empty_inputs_give_a_connected_zero_and_float32_in_half_out():
    s = torch.zeros(0, 3, requires_grad=True)
    for loss in (quality_focal_kd(s, s.detach()), softmax_kd(s, s.detach())):
        assert loss.item() == 0.0 and loss.requires_grad
    b = torch.zeros(0, 4, requires_grad=True)
    assert giou_kd(b, b.detach()).item() == 0.0
    h = torch.randn(3, 4).half()
    assert quality_focal_kd(h, h).dtype == torch.float32
    assert softmax_kd(h, h).dtype == torch.float32


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: quality_focal_kd(torch.zeros(2, 3), torch.zeros(2, 4)),
            "quality_focal_kd: shapes",
        ),
        (lambda: giou_kd(torch.zeros(2, 5), torch.zeros(2, 5)), r"giou_kd: expected \(N, 4\)"),
        (lambda: softmax_kd(torch.zeros(2, 3), torch.zeros(2, 3), 0.0), "temperature must be > 0"),
        (lambda: softmax_kd(torch.zeros(3), torch.zeros(3)), r"softmax_kd: expected \(N, K\)"),
    ],
)
def test_bad_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
