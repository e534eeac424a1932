"""Named features: every ResNet stage is available, also those an FPN does not consume."""

import torch
from detectron2 import model_zoo
from detectron2.config import instantiate

from relkd.utils.features import capture_features, feature_shapes


def test_retinanet_backbone_exposes_res2_it_does_not_output():
    # detectron2's COCO RetinaNet (the papers' p3-p7); the digits configs use p2-p6
    cfg = model_zoo.get_config("common/models/retinanet.py").model
    model = instantiate(cfg).eval()
    bottom_up = model.backbone.bottom_up
    assert "res2" not in bottom_up.output_shape()  # RetinaNet's FPN starts at res3
    shapes = feature_shapes(model.backbone)
    assert shapes["res2"].stride == 4 and shapes["res2"].channels == 256
    assert shapes["res3"].stride == 8 and shapes["p3"].stride == 8
    x = torch.randn(1, 3, 64, 64)
    got = capture_features(model.backbone, x, ["res2", "res3", "p3"])
    with torch.no_grad():
        res2 = bottom_up.res2(bottom_up.stem(x))
    # bitwise: the hooks record the outputs of the same stage modules on the same input
    assert torch.equal(got["res2"], res2)
    assert torch.equal(got["res3"], bottom_up.res3(res2))
