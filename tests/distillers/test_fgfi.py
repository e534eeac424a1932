"""FGFI distiller: anchors to masks, normalisation, warm-up, adapter init and errors."""

import pytest
import torch
from detectron2.layers import ShapeSpec
from detectron2.structures import Boxes

from relkd.distillers import FGFI

from ..helpers import make_inputs, set_identity


def _shapes(c):
    return {"p3": ShapeSpec(channels=c, stride=8), "p4": ShapeSpec(channels=c, stride=16)}


def _anchors(h, w, stride):
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    c = torch.stack([xs, ys, xs, ys], -1).float() * stride
    return Boxes((c + torch.tensor([0.0, 0.0, stride, stride])).reshape(-1, 4))  # A = 1


def _inputs(s, t, boxes, iteration=1000):
    anchors = [_anchors(4, 4, 8), _anchors(2, 2, 16)]
    return make_inputs(s, t, boxes, 32, iteration, anchors=anchors, anchor_levels=["p3", "p4"])


def test_normalisation_through_the_distiller():
    c, d, lam = 3, 0.5, 0.01
    fgfi = FGFI(adapter_relu=False)
    fgfi.setup(_shapes(c), _shapes(c), anchor_levels=["p3", "p4"])
    assert fgfi.features == ["p3", "p4"]
    for seq in fgfi.adapters.values():
        set_identity(seq[0])
    s = {"p3": torch.zeros(1, c, 4, 4), "p4": torch.zeros(1, c, 2, 2)}
    t = {"p3": torch.full((1, c, 4, 4), d), "p4": torch.full((1, c, 2, 2), d)}
    out = fgfi(_inputs(s, t, [torch.tensor([[0.0, 0.0, 8.0, 8.0], [16.0, 16.0, 32.0, 32.0]])]))
    assert list(out) == ["loss_fgfi_imitation"]
    assert out["loss_fgfi_imitation"].item() == pytest.approx(lam * c * d * d / 2, rel=1e-5)


def test_mask_uses_global_max_over_levels():
    fgfi = FGFI(adapter_relu=False)
    fgfi.setup(_shapes(1), _shapes(1), anchor_levels=["p3", "p4"])
    s = {"p3": torch.zeros(1, 1, 4, 4), "p4": torch.zeros(1, 1, 2, 2)}
    # GT = p3 anchor (0, 0) exactly (IoU 1); the best p4 anchor has IoU 0.25 < 0.5: only p3 masked
    masks = fgfi.masks(_inputs(s, s, [torch.tensor([[0.0, 0.0, 8.0, 8.0]])]))
    assert masks["p3"].sum() == 1 and masks["p3"][0, 0, 0] and masks["p4"].sum() == 0


def test_warmup_and_no_boxes():
    fgfi = FGFI(adapter_relu=False, warmup_iters=400)
    fgfi.setup(_shapes(2), _shapes(2), anchor_levels=["p3", "p4"])
    s = {"p3": torch.randn(1, 2, 4, 4, requires_grad=True), "p4": torch.randn(1, 2, 2, 2)}
    t = {"p3": torch.randn(1, 2, 4, 4), "p4": torch.randn(1, 2, 2, 2)}
    box = [torch.tensor([[0.0, 0.0, 8.0, 8.0]])]
    assert fgfi(_inputs(s, t, box, iteration=399))["loss_fgfi_imitation"].item() == 0.0
    assert fgfi(_inputs(s, t, box, iteration=400))["loss_fgfi_imitation"].item() > 0.0
    empty = fgfi(_inputs(s, t, [torch.zeros(0, 4)]))["loss_fgfi_imitation"]
    assert empty.item() == 0.0
    empty.backward()
    assert s["p3"].grad is not None


def test_adapter_init_and_relu():
    fgfi = FGFI(adapter_init_std=1e-4)
    fgfi.setup(_shapes(16), _shapes(32), anchor_levels=["p3", "p4"])
    conv = fgfi.adapters["p3"][0]
    assert conv.weight.shape == (32, 16, 3, 3)
    assert conv.weight.abs().max() <= 2e-4  # truncated at 2 std by fmod
    assert 0.5e-4 < conv.weight.std() < 1.5e-4
    assert isinstance(fgfi.adapters["p3"][1], torch.nn.ReLU)
    nore = FGFI(adapter_relu=False)
    nore.setup(_shapes(16), _shapes(32), anchor_levels=["p3", "p4"])
    assert len(nore.adapters["p3"]) == 1


def test_errors():
    with pytest.raises(ValueError, match="psi must be in \\(0, 1\\], got 1.5"):
        FGFI(psi=1.5)
    with pytest.raises(ValueError, match=r"\['res4'\] carry no anchors.*\['p3', 'p4'\]"):
        FGFI(features=["res4"]).setup(_shapes(2), _shapes(2), anchor_levels=["p3", "p4"])
    teacher = {"p3": ShapeSpec(channels=2, stride=8), "p4": ShapeSpec(channels=2, stride=32)}
    with pytest.raises(
        ValueError, match="FGFI: student 'p4' has stride 16 but teacher 'p4' has stride 32"
    ):
        FGFI().setup(_shapes(2), teacher, anchor_levels=["p3", "p4"])
    with pytest.raises(ValueError, match="needs a student with anchors"):
        FGFI().setup(_shapes(2), _shapes(2), anchor_levels=[])
