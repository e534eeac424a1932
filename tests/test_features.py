"""Named features: every ResNet stage is available, also those an FPN does not consume."""

import torch
from detectron2.config import instantiate

from relkd.utils.features import capture_features, feature_shapes

from .conftest import load_cfg


def test_retinanet_backbone_exposes_res2_it_does_not_output():
    model = instantiate(load_cfg("digits/retinanet_R18_student.py").model).eval()
    bottom_up = model.backbone.bottom_up
    assert "res2" not in bottom_up.output_shape()  # RetinaNet's FPN starts at res3
    shapes = feature_shapes(model.backbone)
    assert shapes["res2"].stride == 4 and shapes["res2"].channels == 32
    assert shapes["res3"].stride == 8 and shapes["p3"].stride == 8
    x = torch.randn(1, 3, 64, 64)
    got = capture_features(model.backbone, x, ["res2", "res3", "p3"])
    with torch.no_grad():
        res2 = bottom_up.res2(bottom_up.stem(x))
    # bitwise: the hooks record the outputs of the same stage modules on the same input
    assert torch.equal(got["res2"], res2)
    assert torch.equal(got["res3"], bottom_up.res3(res2))
