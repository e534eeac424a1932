"""FGD distiller: its modules, the masks from the inputs' GT boxes and image sizes, terms equal
to the loss function, one training step on each digits detector and its argument checks."""

import pytest
import torch
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.structures import Boxes, Instances

from relkd.distillers import FGD, DistillInputs
from relkd.layers import GlobalContext
from relkd.losses.fgd import fgd_loss, fgd_masks

from ..helpers import make_inputs
from .steps import level_features, level_shapes, train_one_step

BOXES = [torch.tensor([[4.0, 8.0, 30.0, 40.0], [20.0, 20.0, 28.0, 26.0]]), torch.zeros(0, 4)]
# before the first update, the GcBlocks' last convs are 0 (the official initialisation): only
# they get a gradient, the layers before them exactly 0
BEFORE_LAST_CONV = ("conv_mask.", "channel_add.0.", "channel_add.1.")


def _inputs(s, t, iteration=0, boxes=BOXES):
    return make_inputs(s, t, boxes, iteration=iteration)


def _randomise_last_convs(d):
    with torch.no_grad():
        for blocks in (d.context_s, d.context_t):
            for block in blocks.values():
                block.channel_add[3].weight.normal_(std=0.1)


def test_structure_and_defaults_follow_the_official_retinanet_config():
    d = FGD(student_features=["p3", "p4"])
    teacher = {"p3": ShapeSpec(channels=6, stride=8), "p4": ShapeSpec(channels=4, stride=16)}
    d.setup(level_shapes(4), teacher)
    # align only where the widths differ; a GcBlock per side and level on the teacher's width
    assert list(d.align) == ["p3"] and d.align["p3"][0].weight.shape == (6, 4, 1, 1)
    assert list(d.context_s) == list(d.context_t) == ["p3", "p4"]
    assert all(isinstance(b, GlobalContext) for b in [*d.context_s.values(), *d.context_t.values()])
    assert (
        d.context_s["p3"].conv_mask.in_channels == 6
        and d.context_t["p4"].conv_mask.in_channels == 4
    )
    assert d.context_s["p3"] is not d.context_t["p3"]
    default = FGD()
    assert default.student_names == default.teacher_names == ["p3", "p4", "p5", "p6", "p7"]
    assert default.temperature == 0.5 and default.loss_weight == 1.0 and default.warmup_iters == 0
    assert default.part_weights == {"fg": 1e-3, "bg": 5e-4, "attention": 5e-4, "global": 5e-6}
    assert default.box_scale == "image"
    assert default.loss_keys() == [f"loss_fgd_p{i}" for i in range(3, 8)]


def test_terms_are_the_loss_function_times_the_loss_weight():
    weights = {"alpha": 5e-5, "beta": 2.5e-5, "gamma": 5e-5, "lambda_": 5e-7}
    d = FGD(student_features=["p3", "p4"], temperature=0.7, loss_weight=3.0, **weights)
    d.setup(level_shapes(4), level_shapes(4))
    _randomise_last_convs(d)
    s, t = level_features(4, 0), level_features(4, 1)
    out = d(_inputs(s, t))
    assert list(out) == ["loss_fgd_p3", "loss_fgd_p4"]
    for lv in ("p3", "p4"):
        size = s[lv].shape[-2:]
        # make_inputs' images are 64 px: the official mapping scales by 64 to the map's size
        fg, bg = fgd_masks(BOXES, size, image_sizes=[(64, 64)] * 2)
        g_s, g_t = d.context_s[lv](s[lv]), d.context_t[lv](t[lv])
        expected = 3.0 * fgd_loss(s[lv], t[lv], fg, bg, g_s, g_t, temperature=0.7, **weights)
        assert out[f"loss_fgd_{lv}"].item() == pytest.approx(expected.item(), rel=1e-6)
    # the logged parts, summed over the levels, add up to the terms before loss_weight
    logs = d.take_logs()
    assert set(logs) == {"fg", "bg", "attention", "global"}
    total = sum(out.values()) / 3.0
    assert sum(v.item() for v in logs.values()) == pytest.approx(total.item(), rel=1e-6)
    assert all(v.item() > 0 for v in logs.values())


def test_masks_read_each_image_size_or_the_stride():
    s = {"p3": torch.randn(2, 4, 8, 8)}
    boxes = [torch.tensor([[0.0, 0.0, 16.0, 16.0]]), torch.tensor([[0.0, 0.0, 16.0, 16.0]])]
    gts = []
    for size in ((64, 64), (32, 48)):  # the second image was padded to 64 x 64
        inst = Instances(size)
        inst.gt_boxes = Boxes(boxes[len(gts)])
        gts.append(inst)
    inputs = DistillInputs(student_features=s, teacher_features=s, gt_instances=gts)
    image = FGD(student_features=["p3"])
    stride = FGD(student_features=["p3"], box_scale="stride")
    for d in (image, stride):
        d.setup(level_shapes(4, ["p3"]), level_shapes(4, ["p3"]))
    fg, _ = image.masks(inputs, "p3", (8, 8))
    # 16 px of a 64-px image: cells 0..2 of 8; of a 32 x 48 image: rows 0..4, columns 0..3
    assert (fg[0] > 0).sum() == 9 and (fg[1] > 0).sum() == 5 * 4
    fg, _ = stride.masks(inputs, "p3", (8, 8))
    assert (fg[0] > 0).sum() == (fg[1] > 0).sum() == 9  # 16 / 8 = 2: cells 0..2 in both
    pictures = image.pictures(inputs)
    assert set(pictures) == {"mask/p3"} and pictures["mask/p3"].shape == (2, 8, 8)
    assert pictures["mask/p3"].max() == 1.0 and pictures["mask/p3"].min() == 0.0


def test_identical_maps_give_zero_and_warmup_zeroes_the_terms():
    d = FGD(student_features=["p3", "p4"], warmup_iters=5)
    d.setup(level_shapes(4), level_shapes(4))
    s = level_features(4, 0)
    same = d(_inputs(s, {k: v.clone() for k, v in s.items()}, iteration=5))
    # both GcBlocks start as the identity: identical maps give exactly 0
    assert all(v.item() == 0.0 for v in same.values())
    early = d(_inputs(s, level_features(4, 1), iteration=4))
    assert all(v.item() == 0.0 for v in early.values())
    assert all(v.item() > 0 for v in d(_inputs(s, level_features(4, 1), 5)).values())


def test_teacher_padded_more_is_cropped_and_a_bf16_teacher_is_compared_in_fp32():
    d = FGD(student_features=["p3"])
    d.setup(level_shapes(3, ["p3"]), level_shapes(3, ["p3"]))
    s = torch.randn(2, 3, 4, 4)
    t = torch.full((2, 3, 6, 5), 99.0)
    t[..., :4, :4] = s
    out = d(_inputs({"p3": s}, {"p3": t}))
    assert out["loss_fgd_p3"].item() == 0.0
    out = d(_inputs({"p3": s}, {"p3": t.bfloat16()}))
    assert out["loss_fgd_p3"].dtype == torch.float32


@pytest.mark.parametrize(
    "det, levels, weights",
    [
        ("retinanet", ["p2", "p3", "p4", "p5", "p6"], {}),
        (
            "faster_rcnn",
            ["p2", "p3", "p4", "p5"],
            {"alpha": 5e-5, "beta": 2.5e-5, "gamma": 5e-5, "lambda_": 5e-7},
        ),
    ],
)
def test_one_training_step_in_a_distill_model(digits_batch, det, levels, weights):
    node = L(FGD)(student_features=levels, **weights)
    model, losses = train_one_step(node, digits_batch, det=det)
    keys = [f"loss_fgd_{lv}" for lv in levels]
    assert set(keys) <= set(losses)
    assert all(torch.isfinite(losses[k]) and losses[k].item() > 0 for k in keys)
    d = model.distillers[0]
    assert set(d.context_s) == set(d.context_t) == set(levels) and not list(d.align)
    # the GT boxes of the real batch reach the masks: some foreground on every image
    gts = [x["instances"] for x in digits_batch]
    inputs = DistillInputs(student_features={}, teacher_features={}, gt_instances=gts)
    fg, bg = d.masks(inputs, "p2", (32, 32))
    assert (fg.flatten(1) > 0).any(1).all() and torch.allclose(bg.sum((1, 2)), torch.ones(2))
    grads = {n: p.grad for n, p in d.named_parameters()}
    assert grads and all(g is not None for g in grads.values())
    zero = {n for n, g in grads.items() if not g.any()}
    assert zero == {n for n in grads if any(part in n for part in BEFORE_LAST_CONV)}, zero
    assert model.backbone.bottom_up.res4[0].conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.model.parameters())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0}, "FGD: temperature must be > 0, got 0"),
        ({"temperature": "0.5"}, "FGD: temperature must be a number, got '0.5'"),
        ({"alpha": -1e-3}, "FGD: alpha must be >= 0, got -0.001"),
        ({"beta": float("nan")}, "FGD: beta must be a finite number, got nan"),
        ({"gamma": "5e-4"}, r"FGD: gamma must be a number, got '5e-4' \(str\)"),
        ({"lambda_": -5e-6}, "FGD: lambda_ must be >= 0, got -5e-06"),
        ({"box_scale": "pad"}, r"FGD: box_scale must be one of \('image', 'stride'\), got 'pad'"),
        ({"student_features": "p3"}, "FGD: student_features must be a list of feature names"),
        ({"teacher_features": ["p3"]}, r"FGD: 5 student features .* but 1 teacher features"),
        ({"loss_weight": -1}, "FGD: loss_weight must be >= 0, got -1"),
        ({"warmup_iters": 1.5}, "FGD: warmup_iters must be a whole number, got 1.5"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FGD(**kwargs)


def test_setup_errors_name_the_feature():
    with pytest.raises(ValueError, match=r"FGD: the student produces no feature\(s\) \['p7'\]"):
        FGD(student_features=["p7"]).setup(level_shapes(4), level_shapes(4))
    teacher = {"p3": ShapeSpec(channels=4, stride=16)}
    with pytest.raises(ValueError, match="FGD: student 'p3' has stride 8 but teacher 'p3'"):
        FGD(student_features=["p3"]).setup(level_shapes(4), teacher)
    one = {"p3": ShapeSpec(channels=1, stride=8)}
    with pytest.raises(ValueError, match="GlobalContext: channels must be an int >= 2, got 1"):
        FGD(student_features=["p3"]).setup(one, one)
