"""HGD-R distiller: zero loss at identity, masks, macro weights, adapters, options, errors."""

import pytest
import torch
from detectron2.layers import ShapeSpec
from detectron2.structures import Boxes

from relkd.distillers import FGFI, HGD

from ..helpers import make_inputs, set_identity

LEVELS = ["res2", "res3"]


def _shapes(c2, c3):
    return {"res2": ShapeSpec(channels=c2, stride=4), "res3": ShapeSpec(channels=c3, stride=8)}


def _identity(hgd: HGD) -> None:
    """Identity 1x1 conv + BN (eval mode with unit running variance after eps)."""
    for seq in hgd.adapters.values():
        set_identity(seq[0])
        bn = seq[1]
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)
        bn.weight.data.fill_(1.0)
        bn.bias.data.zero_()
    hgd.eval()


def _feats(c, size=32):
    return {
        "res2": torch.randn(1, c, size // 4, size // 4),
        "res3": torch.randn(1, c, size // 8, size // 8),
    }


BOX = [torch.tensor([[0.0, 0.0, 16.0, 16.0]])]


@pytest.mark.parametrize("norm", ["none", "channel_std"])
@pytest.mark.parametrize("measure", ["l2", "smooth_l1"])
def test_identical_features_identity_adapters_give_zero(norm, measure):
    hgd = HGD(levels=LEVELS, norm=norm, measure=measure)
    hgd.setup(_shapes(3, 3), _shapes(3, 3))
    _identity(hgd)
    f = _feats(3)
    out = hgd(make_inputs(f, f, BOX, 32))
    assert sorted(out) == ["loss_hgd_res2", "loss_hgd_res3"]
    assert all(v.item() == pytest.approx(0.0, abs=1e-10) for v in out.values())


def test_adapters_output_teacher_shape():
    hgd = HGD(levels=LEVELS)
    hgd.setup(_shapes(2, 4), _shapes(8, 16))
    s = _feats(2)
    s["res3"] = torch.randn(1, 4, 4, 4)
    assert hgd.adapters["res2"](s["res2"]).shape == (1, 8, 8, 8)
    assert hgd.adapters["res3"](s["res3"]).shape == (1, 16, 4, 4)


def test_stage_loss_by_hand_with_box_mask():
    # student 0, teacher a inside the GT box and b outside, identity adapters: per stage
    # L = alpha * a^2 + beta * b^2; the first balanced call weights each stage by mean/K
    a, b = 2.0, 1.0
    hgd = HGD(levels=LEVELS, alpha=1.0, beta=0.5)
    hgd.setup(_shapes(2, 2), _shapes(2, 2))
    _identity(hgd)
    s = {k: torch.zeros_like(v) for k, v in _feats(2).items()}
    t = {}
    for k, st in (("res2", 4), ("res3", 8)):
        t[k] = torch.full_like(s[k], b)
        t[k][..., : 16 // st, : 16 // st] = a  # cells whose centre is inside [0, 16)
    losses = hgd.stage_losses(make_inputs(s, t, BOX, 32))
    assert torch.allclose(losses, torch.full((2,), a * a + 0.5 * b * b))


def test_image_without_boxes_keeps_keys_and_uses_background():
    hgd = HGD(levels=LEVELS, beta=0.5)
    hgd.setup(_shapes(2, 2), _shapes(2, 2))
    _identity(hgd)
    s = {k: torch.zeros_like(v, requires_grad=True) for k, v in _feats(2).items()}
    t = {k: torch.full_like(v, 3.0) for k, v in s.items()}
    losses = hgd.stage_losses(make_inputs(s, t, [torch.zeros(0, 4)], 32))
    assert torch.allclose(losses, torch.full((2,), 0.5 * 9.0))
    losses.sum().backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in s.values())


def test_balanced_weights_after_first_step_equalise_stages_and_track_ema():
    hgd = HGD(levels=LEVELS, ema_momentum=0.9)
    hgd.setup(_shapes(2, 2), _shapes(2, 2))
    hgd.train()
    torch.manual_seed(0)
    inputs = make_inputs(_feats(2), {k: 5 * v for k, v in _feats(2).items()}, BOX, 32, 10)
    raw = hgd.stage_losses(inputs).detach()
    hgd.running_ready.fill_(False)
    out = hgd(inputs)
    # first call: running = current losses, so every stage contributes mean(L) / K
    vals = torch.stack([out["loss_hgd_res2"], out["loss_hgd_res3"]]).detach()
    assert torch.allclose(vals, torch.full((2,), raw.mean().item() / 2), rtol=1e-4)
    r0 = hgd.running.clone()
    r1 = hgd.stage_losses(inputs).detach()
    hgd(inputs)
    # second call (BN batch stats are the same batch): EMA with momentum 0.9
    assert torch.allclose(hgd.running, 0.9 * r0 + 0.1 * r1, rtol=1e-5)
    assert "running" in hgd.state_dict() and "running_ready" in hgd.state_dict()


def test_macro_weights_carry_no_gradient_but_terms_do():
    hgd = HGD(levels=LEVELS)
    hgd.setup(_shapes(2, 2), _shapes(2, 2))
    s = {k: v.requires_grad_() for k, v in _feats(2).items()}
    out = hgd(make_inputs(s, _feats(2), BOX, 32))
    assert not hgd.running.requires_grad
    sum(out.values()).backward()
    assert all(v.grad.abs().sum() > 0 for v in s.values())
    assert all(p.grad is not None for p in hgd.adapters.parameters())


def test_fixed_macro_weights():
    hgd = HGD(levels=LEVELS, macro="fixed", stage_weights=[2.0, 0.0])
    hgd.setup(_shapes(2, 2), _shapes(2, 2))
    inputs = make_inputs(_feats(2), _feats(2), BOX, 32)
    raw = hgd.stage_losses(inputs)
    out = hgd(inputs)
    assert out["loss_hgd_res2"].item() == pytest.approx(2.0 * raw[0].item(), rel=1e-5)
    assert out["loss_hgd_res3"].item() == 0.0


def test_bilinear_resize_when_sizes_differ():
    hgd = HGD(levels=["res2"])
    hgd.setup(_shapes(1, 1), _shapes(1, 1))
    _identity(hgd)
    s = {"res2": torch.full((1, 1, 4, 4), 2.0)}  # constant: bilinear resize keeps it
    t = {"res2": torch.zeros(1, 1, 8, 8)}
    loss = hgd.stage_losses(make_inputs(s, t, [torch.zeros(0, 4)], 32))
    assert loss.item() == pytest.approx(0.5 * 4.0)


def _anchor_grid(h, w, stride):
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    c = torch.stack([xs, ys, xs, ys], -1).float() * stride
    return Boxes((c + torch.tensor([0.0, 0.0, stride, stride])).reshape(-1, 4))


def test_fgfi_micro_mask_is_the_fgfi_mask_of_the_same_stride():
    shapes = {
        **_shapes(1, 1),
        "p2": ShapeSpec(channels=1, stride=4),
        "p3": ShapeSpec(channels=1, stride=8),
    }
    hgd = HGD(levels=LEVELS, micro="fgfi", psi=0.5)
    hgd.setup(shapes, shapes, anchor_levels=["p2", "p3"])
    fgfi = FGFI(psi=0.5, adapter_relu=False)
    fgfi.setup(shapes, shapes, anchor_levels=["p2", "p3"])
    feats = {**_feats(1), "p2": torch.zeros(1, 1, 8, 8), "p3": torch.zeros(1, 1, 4, 4)}
    boxes = [torch.tensor([[4.0, 4.0, 12.0, 12.0], [16.0, 0.0, 32.0, 16.0]])]
    inputs = make_inputs(
        feats,
        feats,
        boxes,
        32,
        anchors=[_anchor_grid(8, 8, 4), _anchor_grid(4, 4, 8)],
        anchor_levels=["p2", "p3"],
    )
    # bitwise: both call the same anchor-mask function; HGD's resize is the identity here
    got, want = hgd.foreground(inputs), fgfi.masks(inputs)
    assert torch.equal(got["res2"], want["p2"]) and torch.equal(got["res3"], want["p3"])
    assert got["res2"].any() and got["res3"].any()


def test_fgfi_micro_needs_an_anchor_level_of_each_stride():
    shapes = {**_shapes(1, 1), "p3": ShapeSpec(channels=1, stride=8)}
    hgd = HGD(levels=LEVELS, micro="fgfi")
    with pytest.raises(ValueError, match="no anchor level of stride 4 for 'res2'"):
        hgd.setup(shapes, shapes, anchor_levels=["p3"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"norm": "layer"}, "norm must be one of .* got 'layer'"),
        ({"measure": "l1"}, "measure must be one of .* got 'l1'"),
        ({"micro": "all"}, "micro must be one of .* got 'all'"),
        ({"macro": "auto"}, "macro must be one of .* got 'auto'"),
        ({"alpha": -1.0}, "alpha must be >= 0, got -1.0"),
        ({"psi": 0.0}, r"psi must be in \(0, 1\], got 0.0"),
        ({"macro": "fixed"}, "one stage weight per level"),
        ({"macro": "fixed", "stage_weights": [1.0]}, "one stage weight per level"),
        ({"stage_weights": [1.0, 1.0]}, "only used with macro='fixed'"),
        ({"levels": []}, "non-empty and distinct"),
        ({"loss_weight": -0.1}, "loss_weight must be >= 0"),
    ],
)
def test_invalid_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HGD(**{"levels": LEVELS, **kwargs})


def test_unknown_stage_and_stride_mismatch():
    hgd = HGD(levels=["res2", "res6"])
    with pytest.raises(ValueError, match=r"student produces no feature\(s\) \['res6'\]"):
        hgd.setup(_shapes(1, 1), _shapes(1, 1))
    bad = {"res2": ShapeSpec(channels=1, stride=8), "res3": ShapeSpec(channels=1, stride=8)}
    with pytest.raises(ValueError, match="'res2' has stride 4 but teacher 'res2' has stride 8"):
        HGD(levels=LEVELS).setup(_shapes(1, 1), bad)
