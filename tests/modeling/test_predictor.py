"""``relkd.export.to_yacs`` and ``relkd.export.predictor``: a LazyConfig student as a yacs config
for ``DefaultPredictor``, and the zero-channel embedding of a narrow ResNet-18 into the 64-wide
one yacs builds."""

from __future__ import annotations

import pytest
import torch
from detectron2.config import instantiate
from detectron2.modeling import build_model
from detectron2.modeling.backbone.resnet import BasicBlock

from relkd.export.predictor import compare, embed_state
from relkd.export.student import student_config
from relkd.export.to_yacs import NotExpressible, yacs_config

from ..conftest import load_cfg


def _randomise_norms(module: torch.nn.Module) -> None:
    for m in module.modules():
        if hasattr(m, "running_var"):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def test_embedded_block_computes_the_narrow_one_and_zeros():
    # equal widths: identity shortcut; wider output: a projection that embed_state makes identity
    torch.manual_seed(0)
    narrow, wide = BasicBlock(8, 8, norm="BN"), BasicBlock(8, 16, norm="BN")
    assert narrow.shortcut is None and wide.shortcut is not None
    _randomise_norms(narrow)
    wide.load_state_dict(embed_state(narrow.state_dict(), wide))
    narrow.eval(), wide.eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        want, got = narrow(x), wide(x)
    assert torch.equal(got[:, 8:], torch.zeros_like(got[:, 8:]))  # exactly: zeros stay zeros
    # the identity shortcut's norm divides by sqrt((1 - eps) + eps): 1 up to one rounding
    torch.testing.assert_close(got[:, :8], want, rtol=1e-6, atol=1e-6)
    state = embed_state(narrow.state_dict(), wide)
    assert torch.equal(state["conv1.norm.running_var"][8:], torch.ones(8))
    assert torch.equal(state["conv1.weight"][8:], torch.zeros(8, 8, 3, 3))


def test_embed_state_refuses_what_does_not_fit():
    narrow, wide = BasicBlock(8, 16, norm="BN"), BasicBlock(8, 8, norm="BN")
    with pytest.raises(ValueError, match="shortcut.*not in the wider model"):
        embed_state(narrow.state_dict(), wide)
    small, big = BasicBlock(16, 16, norm="BN"), BasicBlock(8, 16, norm="BN")
    with pytest.raises(ValueError, match=r"conv1.weight \(16, 16, 3, 3\) > \(16, 8, 3, 3\)"):
        embed_state(small.state_dict(), big)


@pytest.mark.parametrize(
    "name",
    [
        "coco/retinanet_R50_feature_mse.py",
        "coco/faster_rcnn_R50_fgfi.py",
        "coco/mask_rcnn_R50_fgfi.py",
    ],
)
def test_a_coco_student_has_the_same_weights_and_detections_from_yacs(name):
    # width 64: yacs builds the student module for module; the same computation on both sides
    cfg = load_cfg(name)
    if "mask_rcnn" in name:  # keep every detection: masks to compare
        cfg.model.roi_heads.box_predictor.test_score_thresh = 0.0
        torch.manual_seed(1)  # random weights that give detections
    lazy = instantiate(student_config(cfg.model)).eval()
    ycfg = yacs_config(student_config(cfg.model), cfg.dataloader.test.mapper)
    ycfg.MODEL.DEVICE = "cpu"
    assert (ycfg.INPUT.MIN_SIZE_TEST, ycfg.INPUT.MAX_SIZE_TEST) == (800, 1333)
    yacs = build_model(ycfg).eval()
    shapes = {k: tuple(v.shape) for k, v in lazy.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in yacs.state_dict().items()} == shapes
    yacs.load_state_dict(lazy.state_dict())
    torch.manual_seed(0)
    image = torch.randint(0, 256, (3, 96, 128), dtype=torch.uint8)
    with torch.no_grad():
        x = lazy.preprocess_image([{"image": image}])
        a, b = lazy.backbone(x.tensor), yacs.backbone(x.tensor)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        (want,), (got,) = lazy([{"image": image}]), yacs([{"image": image}])
    # random COCO-size heads: few or no detections, but both models must give the same
    for field in ("scores", "pred_classes"):
        assert torch.equal(want["instances"].get(field), got["instances"].get(field))
    assert torch.equal(want["instances"].pred_boxes.tensor, got["instances"].pred_boxes.tensor)
    assert ycfg.MODEL.MASK_ON == ("mask_rcnn" in name)
    if ycfg.MODEL.MASK_ON:
        assert len(want["instances"]) > 0
        assert torch.equal(want["instances"].pred_masks, got["instances"].pred_masks)
    for arg in ("test_score_thresh", "test_nms_thresh", "test_topk_candidates"):
        if hasattr(lazy, arg):
            assert getattr(yacs, arg) == getattr(lazy, arg), arg


def test_what_has_no_yacs_form_is_named():
    dab = load_cfg("digits/dab_detr_R18_student.py")
    with pytest.raises(NotExpressible, match="DABDETR: only RetinaNet and Faster R-CNN"):
        yacs_config(dab.model)
    cfg = load_cfg("digits/retinanet_R18_student.py")
    from detectron2.config import LazyCall as L
    from detectron2.data.transforms import RandomFlip

    cfg.dataloader.test.mapper.augmentations = [L(RandomFlip)()]
    with pytest.raises(NotExpressible, match="test augmentations.*RandomFlip"):
        yacs_config(cfg.model, cfg.dataloader.test.mapper)
    cfg.model.backbone.bottom_up.stem.norm = "GN"
    with pytest.raises(NotExpressible, match="stem and stages use different norms"):
        yacs_config(cfg.model)


def test_compare_sees_a_setting_that_did_not_translate(digits_batch):
    cfg = load_cfg("digits/retinanet_R18_student.py", "model.test_score_thresh=0.0")
    torch.manual_seed(0)
    student = instantiate(cfg.model).eval()
    ycfg = yacs_config(cfg.model, cfg.dataloader.test.mapper)
    ycfg.MODEL.DEVICE = "cpu"
    wide = build_model(ycfg).eval()
    assert ycfg.MODEL.RESNETS.RES2_OUT_CHANNELS == 64 and ycfg.MODEL.RESNETS.STEM_OUT_CHANNELS == 32
    wide.load_state_dict(embed_state(student.state_dict(), wide))
    image = digits_batch[0]["image"]
    assert compare(student, wide, image) < 1e-5  # wider sums: last bits at most
    wide.test_nms_thresh = 0.6  # one setting lost in translation
    assert compare(student, wide, image) == float("inf")
    wide.test_nms_thresh = student.test_nms_thresh
    wide.backbone.bottom_up.res3[0].conv1.weight.data[0, 0, 0, 0] += 0.5  # a weight mis-copied
    assert compare(student, wide, image) > 1e-3
