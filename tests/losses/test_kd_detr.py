"""KD-DETR's point loss on hand-made tensors (docs/methods.md, "KD-DETR")."""

import math

import pytest
import torch

from relkd.losses.kd_detr import foreground_weight, point_distill_loss


def _random(layers=2, b=2, n=5, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(layers, b, n, k, generator=g) * 3
    boxes = torch.rand(layers, b, n, 4, generator=g) * 0.5 + 0.25
    return logits, boxes


def test_identical_student_and_teacher_give_zero():
    t_logits, t_boxes = _random(layers=1)
    s_logits, s_boxes = t_logits.repeat(3, 1, 1, 1), t_boxes.repeat(3, 1, 1, 1)
    out = point_distill_loss(s_logits, s_boxes, t_logits[0], t_boxes[0])
    assert out["kl"].abs().item() < 1e-6
    assert out["l1"].item() == 0.0
    assert out["giou"].abs().item() < 1e-5  # torchvision's GIoU has 1e-7 epsilons


def test_weights_in_open_unit_interval_and_detached():
    logits = (torch.randn(2, 7, 5) * 4).requires_grad_()
    w = foreground_weight(logits)
    assert w.shape == (2, 7) and not w.requires_grad
    assert (w > 0).all() and (w < 1).all()
    assert torch.allclose(w, logits.detach().sigmoid().max(-1).values)


def test_toy_two_class_case():
    t, a = 10.0, 3.7
    teacher = torch.zeros(1, 1, 2)
    student = torch.tensor([[[[a, 0.0]]]])
    boxes = torch.full((1, 1, 4), 0.5)
    out = point_distill_loss(student, boxes[None], teacher, boxes, temperature=t)
    r1 = math.exp(a / t) / (math.exp(a / t) + 1)
    kl = 0.5 * (math.log(0.5 / r1) + math.log(0.5 / (1 - r1)))
    assert out["kl"].item() == pytest.approx(0.5 * t * t / 2 * kl, rel=1e-5)


def test_box_terms_are_foreground_weighted_means():
    # point A: identical boxes; point B: disjoint 0.2 x 0.2 boxes 0.3 apart in x
    t_boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.2, 0.2]]])
    s_boxes = torch.tensor([[[[0.5, 0.5, 0.2, 0.2], [0.6, 0.3, 0.2, 0.2]]]])
    t_logits = torch.tensor([[[2.0, -1.0], [0.0, -3.0]]])
    s_logits = t_logits[None].clone()
    out = point_distill_loss(s_logits, s_boxes, t_logits, t_boxes)
    w_a, w_b = 1 / (1 + math.exp(-2.0)), 0.5
    # B: L1 mean over the 4 coordinates 0.3 / 4; IoU 0, enclosing area 0.1, union 0.08
    assert out["l1"].item() == pytest.approx(w_b * 0.075 / (w_a + w_b), rel=1e-5)
    assert out["giou"].item() == pytest.approx(w_b * 1.2 / (w_a + w_b), rel=1e-5)
    assert out["kl"].abs().item() < 1e-6


def test_terms_sum_over_student_layers():
    t_logits, t_boxes = _random(layers=1, seed=1)
    s_logits, s_boxes = _random(layers=1, seed=2)
    one = point_distill_loss(s_logits, s_boxes, t_logits[0], t_boxes[0])
    three = point_distill_loss(
        s_logits.repeat(3, 1, 1, 1), s_boxes.repeat(3, 1, 1, 1), t_logits[0], t_boxes[0]
    )
    for k in ("kl", "l1", "giou"):
        assert three[k].item() == pytest.approx(3 * one[k].item(), rel=1e-5)


@pytest.mark.parametrize("which", ["student", "teacher"])
def test_kl_invariant_to_a_constant_on_one_query(which):
    t_logits, t_boxes = _random(layers=1, seed=3)
    s_logits, s_boxes = _random(layers=2, seed=4)
    base = point_distill_loss(s_logits, s_boxes, t_logits[0], t_boxes[0])["kl"]
    if which == "student":
        s_logits = s_logits.clone()
        s_logits[1, 0, 2] += 7.5
    else:
        # a shift of the teacher's logits also changes its weight w = max sigmoid, so saturate
        # w at exactly 1 (fp32) first: what is left is the KL itself
        t_logits = t_logits.clone() + 40.0
        base = point_distill_loss(s_logits, s_boxes, t_logits[0], t_boxes[0])["kl"]
        t_logits[0, 1, 3] += 7.5
    shifted = point_distill_loss(s_logits, s_boxes, t_logits[0], t_boxes[0])["kl"]
    assert shifted.item() == pytest.approx(base.item(), rel=1e-5)


def test_gradient_reaches_student_not_teacher():
    t_logits, t_boxes = _random(layers=1, seed=5)
    s_logits, s_boxes = _random(layers=2, seed=6)
    s_logits.requires_grad_()
    s_boxes.requires_grad_()
    t_logits = t_logits[0].clone().requires_grad_()
    t_boxes = t_boxes[0].clone().requires_grad_()
    out = point_distill_loss(s_logits, s_boxes, t_logits, t_boxes)
    sum(out.values()).backward()
    assert s_logits.grad.abs().sum() > 0 and s_boxes.grad.abs().sum() > 0
    assert t_logits.grad is None and t_boxes.grad is None


def test_shape_mismatch_names_shapes():
    t_logits, t_boxes = _random(layers=1)
    with pytest.raises(ValueError, match=r"\(L, B, N, K\).*\(2, 5, 4\)"):
        point_distill_loss(t_logits[0], t_boxes, t_logits[0], t_boxes[0])
    with pytest.raises(ValueError, match="boxes"):
        point_distill_loss(t_logits, t_boxes[..., :3], t_logits[0], t_boxes[0])
