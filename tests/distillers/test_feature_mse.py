"""FeatureMSE and the Distiller base: values, warm-up, weights and error messages."""

import pytest
import torch
from detectron2.layers import ShapeSpec

from relkd.distillers import FeatureMSE

from ..helpers import make_inputs, set_identity


def _shapes(c, stride=8, name="p3"):
    return {name: ShapeSpec(channels=c, stride=stride)}


def _inputs(s, t, boxes, iteration=0, name="p3"):
    return make_inputs({name: s}, {name: t}, boxes, iteration=iteration)


def test_identity_adapter_gives_plain_mse():
    d = FeatureMSE(student_features=["p3"])
    d.setup(_shapes(4), _shapes(4))
    set_identity(d.adapters["p3"][0])
    s, t = torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5)
    out = d(_inputs(s, t, [torch.zeros(0, 4)] * 2))
    assert list(out) == ["loss_feature_mse_p3"]
    assert out["loss_feature_mse_p3"].item() == pytest.approx(
        ((s - t) ** 2).mean().item(), rel=1e-5
    )


def test_identical_features_zero_loss():
    d = FeatureMSE(student_features=["p3"], adapter=False)
    d.setup(_shapes(4), _shapes(4))
    s = torch.randn(1, 4, 5, 5)
    assert d(_inputs(s, s.clone(), [torch.zeros(0, 4)]))["loss_feature_mse_p3"].item() == 0.0


def test_foreground_mask_counts_only_box_cells():
    d = FeatureMSE(student_features=["p3"], adapter=False, foreground_mask=True)
    d.setup(_shapes(2), _shapes(2))
    s = torch.zeros(1, 2, 8, 8)
    t = torch.full((1, 2, 8, 8), 5.0)
    t[..., 0:2, 0:2] = 1.0  # the box [0, 16) x [0, 16) covers cells 0..1 at stride 8
    out = d(_inputs(s, t, [torch.tensor([[0.0, 0.0, 16.0, 16.0]])]))
    assert out["loss_feature_mse_p3"].item() == pytest.approx(1.0)


def test_no_boxes_with_mask_gives_connected_zero():
    d = FeatureMSE(student_features=["p3"], foreground_mask=True)
    d.setup(_shapes(2), _shapes(3))
    s = torch.randn(2, 2, 4, 4, requires_grad=True)
    loss = d(_inputs(s, torch.randn(2, 3, 4, 4), [torch.zeros(0, 4)] * 2))["loss_feature_mse_p3"]
    assert loss.item() == 0.0
    loss.backward()
    assert s.grad is not None
    assert all(p.grad is not None for p in d.parameters())


def test_loss_weight_and_warmup():
    d = FeatureMSE(student_features=["p3"], adapter=False, loss_weight=0.5, warmup_iters=10)
    d.setup(_shapes(1), _shapes(1))
    s, t = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0)  # MSE = 4
    assert d(_inputs(s, t, [torch.zeros(0, 4)], iteration=9))["loss_feature_mse_p3"].item() == 0.0
    assert d(_inputs(s, t, [torch.zeros(0, 4)], iteration=10))["loss_feature_mse_p3"].item() == 2.0


def test_adapter_maps_student_to_teacher_channels():
    d = FeatureMSE(student_features=["p3"])
    d.setup(_shapes(3), _shapes(7))
    assert d.adapters["p3"](torch.zeros(1, 3, 4, 4)).shape == (1, 7, 4, 4)


def test_teacher_crop_when_padded_more():
    d = FeatureMSE(student_features=["p3"], adapter=False)
    d.setup(_shapes(1), _shapes(1))
    s = torch.ones(1, 1, 2, 2)
    t = torch.full((1, 1, 4, 4), 99.0)
    t[..., :2, :2] = 1.0  # the teacher's extra padding lies bottom/right
    assert d(_inputs(s, t, [torch.zeros(0, 4)]))["loss_feature_mse_p3"].item() == 0.0


def test_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"no feature\(s\) \['p9'\].*available: \['p3'\]"):
        FeatureMSE(student_features=["p9"]).setup(_shapes(4), _shapes(4))
    with pytest.raises(ValueError, match="4 channels.*8"):
        FeatureMSE(student_features=["p3"], adapter=False).setup(_shapes(4), _shapes(8))
    with pytest.raises(ValueError, match="stride 8.*stride 16"):
        FeatureMSE(student_features=["p3"]).setup(_shapes(4, 8), _shapes(4, 16))
    with pytest.raises(ValueError, match="loss_weight"):
        FeatureMSE(loss_weight=-1.0)
    with pytest.raises(ValueError, match="warmup_iters"):
        FeatureMSE(warmup_iters=-5)
    with pytest.raises(ValueError, match="2 student features"):
        FeatureMSE(student_features=["p3", "p4"], teacher_features=["p3"])
