"""CrossKD on the digits RetinaNet and Faster R-CNN of configs/digits/*_crosskd.py (random
teachers declared loaded): the terms against a recomputation here, where the gradient goes, an
invariance, the argument checks and the refusals of a teacher it cannot cross into."""

from __future__ import annotations

import pytest
import torch
from detectron2.config import LazyCall as L
from detectron2.config import instantiate
from detectron2.layers import ShapeSpec
from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
from detectron2.utils.events import EventStorage

from relkd import Teacher
from relkd.distillers import CrossKD, CrossKDROI, find_distiller
from relkd.losses.crosskd import giou_kd, quality_focal_kd, softmax_kd

from ..conftest import _calibrate_norms, load_cfg
from .steps import level_shapes

RETINANET = "digits/retinanet_R18_crosskd.py"
FASTER_RCNN = "digits/faster_rcnn_R18_crosskd.py"
NUM_CLASSES = 10


def _teacher(config: str, batch, predictors=()) -> torch.nn.Module:
    """``config``'s teacher with seeded random weights, norms calibrated on ``batch``; the
    modules named in ``predictors`` redrawn at std 0.05, so that a random teacher's predictions
    are not the near-constant ones of detectron2's initialisation (std 0.01 or 0.001)."""
    torch.manual_seed(1)
    model = instantiate(load_cfg(config).model.teacher.model)
    _calibrate_norms(model, batch)
    for name in predictors:
        for p in model.get_submodule(name).parameters():
            torch.nn.init.normal_(p, std=0.05)
    return model


def _build(config: str, teacher: torch.nn.Module, distiller=None):
    cfg = load_cfg(config)
    cfg.model.teacher = L(Teacher)(model=teacher, loaded=True)
    if distiller is not None:
        cfg.model.distillers = [distiller]
    torch.manual_seed(0)
    return instantiate(cfg.model).train()


def _step(model, batch) -> dict[str, torch.Tensor]:
    with EventStorage(0):
        return model(batch)


def _retinanet(batch, distiller=None):
    head = ("head.cls_subnet", "head.bbox_subnet", "head.cls_score", "head.bbox_pred")
    return _build(RETINANET, _teacher(RETINANET, batch, head), distiller)


def _faster_rcnn(batch):
    return _build(FASTER_RCNN, _teacher(FASTER_RCNN, batch, ("roi_heads.box_predictor",)))


def _both_backbones(model, batch):
    images = model.preprocess_image(batch)
    teacher = model.teacher.model
    t_images = model.teacher.prepare_images(images.tensor, images.image_sizes)
    return model.backbone(images.tensor), teacher.backbone(t_images)


@torch.no_grad()
def _dense_expected(model, batch, cross_after: int) -> dict[str, torch.Tensor]:
    """CrossKD's terms recomputed: the student's first blocks (conv, ReLU each), the teacher's
    remaining ones and prediction conv, the teacher's own head, decoding, the losses."""
    feats, t_feats = _both_backbones(model, batch)
    teacher = model.teacher.model
    levels = model.head_in_features
    out = {}
    for key, tower, pred, k in (
        ("cls", "cls_subnet", "cls_score", NUM_CLASSES),
        ("box", "bbox_subnet", "bbox_pred", 4),
    ):
        cut = 2 * cross_after
        s_tower, t_tower = getattr(model.head, tower), getattr(teacher.head, tower)
        t_pred = getattr(teacher.head, pred)
        crossed = [t_pred(t_tower[cut:](s_tower[:cut](feats[n]))) for n in levels]
        own = [t_pred(t_tower(t_feats[n])) for n in levels]
        own = [t[..., : s.shape[-2], : s.shape[-1]] for t, s in zip(own, crossed)]
        out[key] = [
            torch.cat([permute_to_N_HWA_K(x, k) for x in maps], 1) for maps in (crossed, own)
        ]
    (s_cls, t_cls), (s_box, t_box) = out["cls"], out["box"]
    anchors = model.anchor_generator([feats[n] for n in levels])
    anchors = torch.cat([a.tensor for a in anchors]).repeat(s_box.shape[0], 1)
    decode = teacher.box2box_transform.apply_deltas
    return {
        "cls": quality_focal_kd(s_cls.flatten(0, 1), t_cls.flatten(0, 1), 2.0),
        "box": giou_kd(
            decode(s_box.reshape(-1, 4), anchors), decode(t_box.reshape(-1, 4), anchors)
        ),
    }


@torch.no_grad()
def _roi_expected(model, batch, boxes) -> dict[str, torch.Tensor]:
    """CrossKDROI's terms recomputed on the proposals the student's ROI head pooled: the
    student's pooler, fc1 and ReLU; the teacher's fc2, ReLU and predictor; the teacher's own
    ROI head on its features and the same boxes; the teacher's most likely foreground class."""
    feats, t_feats = _both_backbones(model, batch)
    heads, t_heads = model.roi_heads, model.teacher.model.roi_heads
    x = heads.box_pooler([feats[f] for f in heads.box_in_features], boxes).flatten(1)
    x = t_heads.box_head.fc_relu2(
        t_heads.box_head.fc2(heads.box_head.fc_relu1(heads.box_head.fc1(x)))
    )
    s_logits, s_deltas = t_heads.box_predictor(x)
    pooled = t_heads.box_pooler([t_feats[f] for f in ("p2", "p3", "p4", "p5")], boxes)
    t_logits, t_deltas = t_heads.box_predictor(t_heads.box_head(pooled))
    proposals = torch.cat([b.tensor for b in boxes])
    decode = t_heads.box_predictor.box2box_transform.apply_deltas
    best = t_logits[:, :NUM_CLASSES].argmax(1)
    rows = torch.arange(len(best))
    pick = lambda deltas: decode(deltas, proposals).view(len(rows), -1, 4)[rows, best]  # noqa: E731
    return {
        "cls": softmax_kd(s_logits, t_logits, 1.0),
        "box": giou_kd(pick(s_deltas), pick(t_deltas)),
    }


def _crosskd_backward(model, losses, prefix: str) -> None:
    terms = [v for k, v in losses.items() if k.startswith(prefix)]
    assert len(terms) == 2
    sum(terms).backward()
    assert all(p.grad is None for p in model.teacher.model.parameters())


def _has_grad(module) -> bool:
    return module.weight.grad is not None and module.weight.grad.abs().sum() > 0


def test_dense_terms_equal_a_recomputation_and_train_the_first_blocks_only(digits_batch):
    model = _retinanet(digits_batch)
    (d,) = model.distillers
    assert d.cross_after == 1 and d.recorded("cls") == "head.cls_subnet.1"
    losses = _step(model, digits_batch)
    expected = _dense_expected(model, digits_batch, cross_after=1)
    for term in ("cls", "box"):
        got = losses[f"loss_crosskd_{term}"]
        torch.testing.assert_close(got, d.loss_weight * expected[term], rtol=1e-5, atol=0)
        assert got.item() > 0
    _crosskd_backward(model, losses, "loss_crosskd_")
    head = model.head
    # the student's first block of each branch, its FPN and backbone train on the CrossKD terms
    assert _has_grad(head.cls_subnet[0]) and _has_grad(head.bbox_subnet[0])
    assert _has_grad(model.backbone.fpn_output3) and _has_grad(
        model.backbone.bottom_up.res4[0].conv1
    )
    # its later layers do not: the crossed path runs the teacher's
    for layer in (head.cls_subnet[2], head.bbox_subnet[2], head.cls_score, head.bbox_pred):
        assert layer.weight.grad is None


def test_crossing_at_the_fpn_level_runs_the_whole_teacher_head(digits_batch):
    model = _retinanet(digits_batch, L(CrossKD)(head_convs=2, cross_after=0))
    assert model.distillers[0].recorded("box") == "head.bbox_subnet"
    losses = _step(model, digits_batch)
    expected = _dense_expected(model, digits_batch, cross_after=0)
    for term in ("cls", "box"):
        torch.testing.assert_close(
            losses[f"loss_crosskd_{term}"], expected[term], rtol=1e-5, atol=0
        )
    _crosskd_backward(model, losses, "loss_crosskd_")
    assert model.head.cls_subnet[0].weight.grad is None and _has_grad(model.backbone.fpn_output2)


@pytest.mark.parametrize("beta", [2.0, 0.0])
def test_a_teacher_that_is_the_student_crossed_after_every_block(digits_batch, beta):
    """cross_after = all blocks: the crossed predictions are the student's own, through the
    teacher's prediction convs; with the student's weights in the teacher (and the student's
    norms in eval mode, so both backbones compute the same function) the class term is the QFL
    of the student's logits with themselves (0 for beta > 0) and the box term 0."""
    student_cfg = load_cfg("digits/retinanet_R18_student.py")
    torch.manual_seed(1)
    teacher = instantiate(student_cfg.model)
    model = _build(RETINANET, teacher, L(CrossKD)(head_convs=2, cross_after=2, beta=beta))
    teacher.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("distillers.")}
    )
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    losses = _step(model, digits_batch)
    with torch.no_grad():
        images = model.preprocess_image(digits_batch)
        feats = model.backbone(images.tensor)
        logits, _ = model.head([feats[n] for n in model.head_in_features])
        logits = torch.cat([permute_to_N_HWA_K(x, NUM_CLASSES) for x in logits], 1).flatten(0, 1)
    torch.testing.assert_close(
        losses["loss_crosskd_cls"], quality_focal_kd(logits, logits, beta), rtol=1e-5, atol=1e-12
    )
    assert (losses["loss_crosskd_cls"].item() == 0) is (beta > 0)
    assert losses["loss_crosskd_box"].item() == pytest.approx(0, abs=1e-5)


def test_roi_terms_equal_a_recomputation_and_train_the_first_fc_only(digits_batch):
    model = _faster_rcnn(digits_batch)
    (d,) = model.distillers
    pooled = []
    hook = model.roi_heads.box_pooler.register_forward_hook(lambda m, a, o: pooled.append(a[1]))
    losses = _step(model, digits_batch)
    hook.remove()
    (boxes,) = pooled  # the student's sampled proposals, one Boxes per image
    expected = _roi_expected(model, digits_batch, boxes)
    for term in ("cls", "box"):
        got = losses[f"loss_crosskd_roi_{term}"]
        torch.testing.assert_close(got, d.loss_weight * expected[term], rtol=1e-5, atol=0)
        assert got.item() > 0
    _crosskd_backward(model, losses, "loss_crosskd_roi_")
    box_head = model.roi_heads.box_head
    assert _has_grad(box_head.fc1) and _has_grad(model.backbone.bottom_up.res4[0].conv1)
    for layer in (box_head.fc2, model.roi_heads.box_predictor.cls_score):
        assert layer.weight.grad is None
    assert all(p.grad is None for p in model.proposal_generator.parameters())


def test_loss_keys_defaults_and_registry():
    assert CrossKD().loss_keys() == ["loss_crosskd_cls", "loss_crosskd_box"]
    assert CrossKDROI().loss_keys() == ["loss_crosskd_roi_cls", "loss_crosskd_roi_box"]
    assert CrossKD(name="x").loss_keys() == ["loss_x_cls", "loss_x_box"]
    d = CrossKD()  # the paper's 4-conv heads: crossed after 3 blocks
    assert d.cross_after == 3 and d.beta == 2.0 and d.weights == {"cls": 1.0, "box": 1.0}
    assert d.recorded("cls") == "head.cls_subnet.5"
    assert CrossKD(head_norm=True).recorded("box") == "head.bbox_subnet.8"  # conv, GN, ReLU
    assert find_distiller("CrossKD") is CrossKD and find_distiller("CrossKDROI") is CrossKDROI
    r = CrossKDROI(cross_after=2)
    assert r.requirements().student_modules == (
        "roi_heads.box_pooler",
        "roi_heads.box_head.fc_relu2",
    )
    assert r.requirements().teacher == ("p2", "p3", "p4", "p5")


def test_adapters_only_where_the_widths_differ():
    d = CrossKD(head_convs=2)
    d.setup(
        level_shapes(4),
        {"p3": ShapeSpec(channels=8, stride=8), "p4": ShapeSpec(8, stride=16)},
        anchor_levels=["p3", "p4"],
    )
    assert sorted(d.align) == ["box", "cls"] and d.align["cls"][0].weight.shape == (8, 4, 1, 1)
    assert d.requirements().teacher == ("p3", "p4")
    same = CrossKD(head_convs=2)
    same.setup(level_shapes(4), level_shapes(4), anchor_levels=["p3", "p4"])
    assert len(same.align) == 0
    assert CrossKDROI(fc_dims=(128, 256)).align.weight.shape == (256, 128)
    assert CrossKDROI(fc_dims=[256, 256]).align is None


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (
            CrossKD,
            {"cross_after": 3, "head_convs": 2},
            r"cross_after must be <= head_convs \(2\), got 3",
        ),
        (CrossKD, {"cross_after": -1}, "CrossKD: cross_after must be >= 0, got -1"),
        (CrossKD, {"cross_after": 1.5}, "CrossKD: cross_after must be a whole number, got 1.5"),
        (CrossKD, {"head_convs": 0}, "CrossKD: head_convs must be >= 1, got 0"),
        (CrossKD, {"head_norm": "GN"}, "CrossKD: head_norm must be True or False, got 'GN'"),
        (CrossKD, {"beta": -1}, "CrossKD: beta must be >= 0, got -1"),
        (CrossKD, {"cls_weight": -2}, "CrossKD: cls_weight must be >= 0, got -2"),
        (CrossKD, {"box_weight": "one"}, "CrossKD: box_weight must be a number, got 'one'"),
        (CrossKD, {"loss_weight": "x"}, "CrossKD: loss_weight must be a number or 'auto', got 'x'"),
        (CrossKDROI, {"cross_after": 0}, "CrossKDROI: cross_after must be >= 1, got 0"),
        (
            CrossKDROI,
            {"fc_dims": (256,)},
            r"fc_dims must be None or \(student width, teacher width\), got \(256,\)",
        ),
        (CrossKDROI, {"temperature": 0}, "CrossKDROI: temperature must be > 0, got 0"),
        (CrossKDROI, {"box_in_features": "p2"}, "CrossKDROI: box_in_features must be a list"),
        (CrossKDROI, {"box_in_features": []}, "CrossKDROI: box_in_features is empty"),
        (CrossKDROI, {"box_weight": -1}, "CrossKDROI: box_weight must be >= 0, got -1"),
    ],
)
def test_bad_arguments_are_named(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_a_teacher_of_the_other_family_is_refused_at_the_first_step(digits_batch):
    frcnn = _teacher(FASTER_RCNN, digits_batch)
    model = _build(RETINANET, frcnn)
    with pytest.raises(ValueError, match="CrossKD: the teacher is a GeneralizedRCNN, not a dense"):
        _step(model, digits_batch)
    retina = _teacher(RETINANET, digits_batch)
    model = _build(FASTER_RCNN, retina)
    with pytest.raises(ValueError, match="CrossKDROI: the teacher is a RetinaNet, not an R-CNN"):
        _step(model, digits_batch)


def test_a_wrong_student_layout_is_refused(digits_batch):
    teacher = _teacher(RETINANET, digits_batch)
    # head_norm=True names head.cls_subnet.2, a conv of the digits head: caught at the first step
    model = _build(RETINANET, teacher, L(CrossKD)(head_convs=2, head_norm=True))
    with pytest.raises(ValueError, match=r"give head_convs=2, head_norm=False \(got 2, True\)"):
        _step(model, digits_batch)
    # the default 4-conv layout names a module the digits head does not have: refused when built
    with pytest.raises(
        ValueError, match=r"submodule\(s\) \['head.cls_subnet.5', 'head.bbox_subnet.5'\]"
    ):
        _build(RETINANET, teacher, L(CrossKD)())
    # a dense CrossKD on a Faster R-CNN student
    with pytest.raises(ValueError, match="CrossKD records student submodule"):
        _build(FASTER_RCNN, _teacher(FASTER_RCNN, digits_batch), L(CrossKD)(head_convs=2))


def test_built_by_name_through_yacs():
    from detectron2.config import CfgNode, get_cfg

    from relkd import add_relkd_config
    from relkd.meta_arch.yacs import build_distillers

    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.RELKD.DISTILLERS = ["CrossKD", "CrossKDROI"]
    cfg.RELKD.DISTILLER_ARGS.CrossKD = CfgNode({"HEAD_CONVS": 2, "BETA": 1.0})
    cfg.RELKD.DISTILLER_ARGS.CrossKDROI = CfgNode({"FC_DIMS": [256, 1024], "TEMPERATURE": 2.0})
    dense, roi = build_distillers(cfg)
    assert type(dense) is CrossKD and dense.cross_after == 1 and dense.beta == 1.0
    assert type(roi) is CrossKDROI and roi.fc_dims == (256, 1024) and roi.temperature == 2.0


def _narrow_teacher(config: str, batch, width: int) -> torch.nn.Module:
    """``config``'s teacher with a ``width``-wide FPN and dense head, or ``width``-wide fc
    layers (the students' are 64 and 256)."""
    node = load_cfg(config).model.teacher.model
    if "head" in node:
        node.backbone.out_channels = width
        node.head.input_shape = [ShapeSpec(channels=width)] * 5
        node.head.conv_dims = [width] * 2
    else:
        node.roi_heads.box_head.fc_dims = [width] * 2
        node.roi_heads.box_predictor.input_shape = ShapeSpec(channels=width)
    torch.manual_seed(1)
    model = instantiate(node)
    _calibrate_norms(model, batch)
    return model


def test_adapters_map_the_student_width_to_the_teacher_s_and_train(digits_batch):
    model = _build(RETINANET, _narrow_teacher(RETINANET, digits_batch, 32))
    align = model.distillers[0].align
    assert align["cls"][0].weight.shape == align["box"][0].weight.shape == (32, 64, 1, 1)
    losses = _step(model, digits_batch)
    _crosskd_backward(model, losses, "loss_crosskd_")
    assert all(_has_grad(align[b][0]) for b in ("cls", "box"))
    assert _has_grad(model.head.cls_subnet[0])
    # Faster R-CNN: without fc_dims the first step names the widths to give
    teacher = _narrow_teacher(FASTER_RCNN, digits_batch, 128)
    model = _build(FASTER_RCNN, teacher)
    with pytest.raises(
        ValueError, match=r"gives 256 features .* takes 128; give fc_dims=\(256, 128\)"
    ):
        _step(model, digits_batch)
    model = _build(FASTER_RCNN, teacher, L(CrossKDROI)(fc_dims=(256, 128)))
    losses = _step(model, digits_batch)
    _crosskd_backward(model, losses, "loss_crosskd_roi_")
    assert _has_grad(model.distillers[0].align) and _has_grad(model.roi_heads.box_head.fc1)
