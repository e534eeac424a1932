"""MGD distiller: the generation blocks, the masks' ratio and reproducibility, a hand-computed
case, one training step and its argument checks."""

import pytest
import torch
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

from relkd.distillers import MGD
from relkd.losses.mgd import mgd_loss

from ..helpers import make_inputs, set_identity
from .steps import assert_trains_the_student_only, level_features, level_shapes, train_one_step


def _feats(c, seed, positive=False):
    out = level_features(c, seed)
    return {k: v.abs() for k, v in out.items()} if positive else out


def _inputs(s, t, iteration=0):
    return make_inputs(s, t, [torch.zeros(0, 4)] * 2, iteration=iteration)


def test_structure_follows_the_official_code():
    d = MGD(student_features=["p3", "p4"])
    teacher = {"p3": ShapeSpec(channels=6, stride=8), "p4": ShapeSpec(channels=4, stride=16)}
    d.setup(level_shapes(4), teacher)
    # align only where the widths differ, then 3x3 conv, ReLU, 3x3 conv on the teacher's width
    assert list(d.align) == ["p3"] and d.align["p3"][0].weight.shape == (6, 4, 1, 1)
    gen = d.generation["p3"]
    assert [type(m).__name__ for m in gen] == ["Conv2d", "ReLU", "Conv2d"]
    assert gen[0].weight.shape == gen[2].weight.shape == (6, 6, 3, 3)
    assert gen[0].bias is not None and d.generation["p4"][0].in_channels == 4
    assert MGD().student_names == ["p3", "p4", "p5", "p6", "p7"]
    assert MGD().lambda_mgd == 0.65 and MGD().loss_weight == 2e-5


def test_no_mask_and_identity_generation_give_the_sum_of_squares_over_n():
    d = MGD(student_features=["p3", "p4"], lambda_mgd=0.0, loss_weight=1.0)
    d.setup(level_shapes(3), level_shapes(3))
    for block in d.generation.values():
        set_identity(block[0])
        set_identity(block[2])
    s, t = _feats(3, 0, positive=True), _feats(3, 1)  # ReLU keeps a positive map as it is
    out = d(_inputs(s, t))
    for lv in ("p3", "p4"):
        by_hand = sum(float((a - b) ** 2) for a, b in zip(s[lv].flatten(), t[lv].flatten())) / 2
        assert out[f"loss_mgd_{lv}"].item() == pytest.approx(by_hand, rel=1e-5)


def test_masked_positions_are_zeroed_on_every_channel_at_the_ratio():
    d = MGD(student_features=["p3"], lambda_mgd=0.65)
    d.setup(level_shapes(8, ["p3"]), level_shapes(8, ["p3"]))
    masks = d.masks({"p3": (4, 8, 40, 40)}, "cpu")
    assert masks["p3"].shape == (4, 1, 40, 40)
    assert abs((1 - masks["p3"].mean().item()) - 0.65) < 0.03
    # what the generation block sees: the student's map times the mask
    seen = []
    d.generation["p3"].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    s = _feats(8, 0, positive=True)["p3"] + 1  # no zero of its own
    torch.manual_seed(3)
    d(_inputs({"p3": s}, {"p3": torch.zeros_like(s)}))
    torch.manual_seed(3)
    mask = d.masks({"p3": tuple(s.shape)}, "cpu")["p3"]
    assert torch.equal(seen[0], s * mask)
    zero = seen[0] == 0
    assert torch.equal(zero, zero[:, :1].expand_as(zero)) and 0.4 < zero.float().mean() < 0.9


def test_seeded_runs_repeat_and_fresh_masks_each_step():
    d = MGD(student_features=["p3", "p4"], loss_weight=1.0)
    d.setup(level_shapes(4), level_shapes(4))
    s, t = _feats(4, 0), _feats(4, 1)
    torch.manual_seed(11)
    first, second = d(_inputs(s, t)), d(_inputs(s, t))
    torch.manual_seed(11)
    again = d(_inputs(s, t))
    assert all(first[k].item() == again[k].item() for k in first)
    assert first["loss_mgd_p3"].item() != second["loss_mgd_p3"].item()
    # an own generator makes the masks independent of the global seed
    e = MGD(student_features=["p3"], generator=torch.Generator().manual_seed(0))
    e.setup(level_shapes(4, ["p3"]), level_shapes(4, ["p3"]))
    a = e.masks({"p3": (2, 4, 8, 8)}, "cpu")["p3"]
    e.generator.manual_seed(0)
    assert torch.equal(a, e.masks({"p3": (2, 4, 8, 8)}, "cpu")["p3"])


def test_terms_are_the_loss_function_of_the_generated_map_times_alpha():
    d = MGD(student_features=["p3"], loss_weight=2e-5)
    d.setup(level_shapes(4, ["p3"]), level_shapes(4, ["p3"]))
    s, t = _feats(4, 0)["p3"], _feats(4, 1)["p3"]
    torch.manual_seed(2)
    got = d(_inputs({"p3": s}, {"p3": t}))["loss_mgd_p3"]
    torch.manual_seed(2)
    mask = d.masks({"p3": tuple(s.shape)}, "cpu")["p3"]
    expected = 2e-5 * mgd_loss(d.generation["p3"](s * mask), t)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_one_training_step_in_a_distill_model(digits_batch):
    node = L(MGD)(student_features=["p2", "p3", "p4", "p5"], lambda_mgd=0.45, loss_weight=1e-4)
    model, losses = train_one_step(node, digits_batch, det="faster_rcnn")
    keys = [f"loss_mgd_p{i}" for i in range(2, 6)]
    assert set(keys) <= set(losses) and all(losses[k].item() > 0 for k in keys)
    assert set(model.distillers[0].generation) == {"p2", "p3", "p4", "p5"}
    assert_trains_the_student_only(model)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lambda_mgd": 1.5}, r"MGD: lambda_mgd must be in \[0, 1\], got 1.5"),
        ({"lambda_mgd": -0.1}, r"MGD: lambda_mgd must be in \[0, 1\], got -0.1"),
        ({"lambda_mgd": "0.65"}, "MGD: lambda_mgd must be a number, got '0.65'"),
        ({"generator": 0}, "MGD: generator must be a torch.Generator or None, got 0"),
        ({"student_features": "p3"}, "MGD: student_features must be a list of feature names"),
        ({"loss_weight": -2e-5}, "MGD: loss_weight must be >= 0, got -2e-05"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MGD(**kwargs)
