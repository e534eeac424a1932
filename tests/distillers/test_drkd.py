"""DRKD distiller: zero-loss cases, the code filter, permutation invariance, empty images."""

import copy

import pytest
import torch
from detectron2.layers import ShapeSpec

from relkd.distillers import DRKD

from ..helpers import make_inputs, set_identity

LEVELS = ["p3", "p4", "p5"]


def _shapes(c):
    return {lv: ShapeSpec(channels=c, stride=8 * 2**i) for i, lv in enumerate(LEVELS)}


def _feats(c, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {lv: torch.randn(2, c, 8 >> i, 8 >> i, generator=g) for i, lv in enumerate(LEVELS)}


def _inputs(s, t, boxes):
    return make_inputs(s, t, boxes, 64, iteration=10)


BOXES = [
    torch.tensor([[0.0, 0.0, 24.0, 16.0], [30.0, 8.0, 60.0, 40.0], [8.0, 30.0, 20.0, 60.0]]),
    torch.tensor([[4.0, 4.0, 40.0, 40.0], [16.0, 32.0, 48.0, 56.0]]),
]


def _mirrored(c=8, **kw):
    """DRKD whose teacher-side modules equal the student-side ones and adapters are identity."""
    d = DRKD(num_nodes=(4, 4, 8), **kw)
    d.setup(_shapes(c), _shapes(c), anchor_levels=LEVELS)
    for lv in LEVELS:
        d.teacher_glore[lv].load_state_dict(d.student_glore[lv].state_dict())
    for lv in d.instance_levels:
        d.teacher_relation[lv].load_state_dict(d.student_relation[lv].state_dict())
    for group in (d.pixel_adapt, d.relation_adapt, d.instance_adapt):
        for seq in group.values():
            set_identity(seq[0])
    return d.eval()


def test_structure_follows_the_code():
    d = DRKD()
    d.setup(
        {f"p{i}": ShapeSpec(channels=16, stride=2**i) for i in range(2, 7)},
        {f"p{i}": ShapeSpec(channels=32, stride=2**i) for i in range(2, 7)},
        anchor_levels=["p2", "p3", "p4", "p5", "p6"],
    )
    assert d.instance_levels == ["p2", "p3"]
    assert [g.node_conv.in_channels for g in d.student_glore.values()] == [64, 64, 256, 256, 256]
    assert d.teacher_glore["p2"].conv_state.in_channels == 32
    assert d.student_relation["p2"].theta.in_features == 16 * 9
    assert d.teacher_relation["p2"].theta.in_features == 32 * 9
    adapters = [*d.pixel_adapt.values(), *d.relation_adapt.values(), *d.instance_adapt.values()]
    assert len(adapters) == 9 and all(a[0].kernel_size == (1, 1) for a in adapters)
    assert d.loss_keys() == ["loss_drkd_pixel", "loss_drkd_relation", "loss_drkd_instance"]


def test_identical_student_teacher_zero_pixel_and_instance_not_relation():
    d = _mirrored(generator=torch.Generator().manual_seed(0))
    f = _feats(8)
    out = d(_inputs(f, copy.deepcopy(f), BOXES))
    assert out["loss_drkd_pixel"].item() == 0.0
    assert out["loss_drkd_instance"].item() == 0.0
    # the code's random relation filter differs between the two sides: L_IR > 0
    assert out["loss_drkd_relation"].item() > 0.0


def test_identical_with_no_filter_is_all_zero():
    d = _mirrored(relation_filter="none")
    f = _feats(8)
    out = d(_inputs(f, copy.deepcopy(f), BOXES))
    assert all(v.item() == 0.0 for v in out.values())


def test_gt_order_invariance():
    d = DRKD(num_nodes=(4, 4, 8), relation_filter="none").eval()
    d.setup(_shapes(8), _shapes(8), anchor_levels=LEVELS)
    s, t = _feats(8, 0), _feats(8, 1)
    a = d(_inputs(s, t, BOXES))
    b = d(_inputs(s, t, [BOXES[0][[2, 0, 1]], BOXES[1][[1, 0]]]))
    for k in a:
        assert a[k].item() == pytest.approx(b[k].item(), rel=1e-5), k


def test_roialign_on_constant_map_one_cell():
    d = DRKD(num_nodes=(4, 4, 8))
    d.setup(_shapes(2), _shapes(2), anchor_levels=LEVELS)
    feat = torch.full((1, 2, 8, 8), 3.5)
    pooled = d.pool(
        feat, [torch.tensor([[8.0, 16.0, 16.0, 24.0]])], "p3"
    )  # cell (2, 1) at stride 8
    assert pooled.shape == (1, 2, 3, 3) and torch.allclose(pooled, torch.full_like(pooled, 3.5))


def test_roialign_reads_the_right_cell():
    d = DRKD(num_nodes=(4, 4, 8))
    d.setup(_shapes(1), _shapes(1), anchor_levels=LEVELS)
    feat = torch.zeros(1, 1, 8, 8)
    feat[0, 0, 2, 1] = 7.0
    # aligned=False (the official code): cell (2, 1) sits at image point (8, 16), the box's
    # top-left corner, so the top-left bin reads the most of it; a box far away reads nothing
    pooled = d.pool(feat, [torch.tensor([[8.0, 16.0, 16.0, 24.0]])], "p3")
    assert pooled[0, 0, 0, 0] == pooled.max() > 3.5
    assert d.pool(feat, [torch.tensor([[40.0, 40.0, 56.0, 56.0]])], "p3").abs().max() == 0


def test_images_without_gt():
    d = DRKD(num_nodes=(4, 4, 8), generator=torch.Generator().manual_seed(0))
    d.setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
    s = {k: v.requires_grad_() for k, v in _feats(4, 0).items()}
    out = d(_inputs(s, _feats(4, 1), [torch.zeros(0, 4), torch.zeros(0, 4)]))
    assert out["loss_drkd_relation"].item() == 0.0 and out["loss_drkd_instance"].item() == 0.0
    assert out["loss_drkd_pixel"].item() > 0.0
    sum(out.values()).backward()
    # every parameter takes part (zero grads for the instance side): DDP-safe
    assert all(p.grad is not None for p in d.parameters())
    # one image with boxes, one without: the empty one adds nothing
    for m in (*d.student_relation.values(), *d.teacher_relation.values()):
        m.relation_filter = "none"
    t = _feats(4, 1)
    one = d(_inputs(s, t, [BOXES[0], torch.zeros(0, 4)]))
    alone = d(
        _inputs({k: v[:1] for k, v in s.items()}, {k: v[:1] for k, v in t.items()}, [BOXES[0]])
    )
    for k in ("loss_drkd_relation", "loss_drkd_instance"):
        assert one[k].item() == pytest.approx(alone[k].item(), rel=1e-5) and one[k].item() > 0


def test_weights_scale_terms_and_mse_form():
    f, t = _feats(4, 0), _feats(4, 1)
    a = DRKD(num_nodes=(4, 4, 8), relation_filter="none").eval()
    a.setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
    b = DRKD(
        num_nodes=(4, 4, 8), relation_filter="none", pixel_weight=2e-3, instance_weight=0
    ).eval()
    b.setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
    # instance_weight=0: b builds no instance adapters, the one thing of a's it lacks
    skipped = b.load_state_dict(a.state_dict(), strict=False)
    assert not skipped.missing_keys
    assert skipped.unexpected_keys and all(
        k.startswith("instance_adapt.") for k in skipped.unexpected_keys
    )
    oa, ob = a(_inputs(f, t, BOXES)), b(_inputs(f, t, BOXES))
    assert ob["loss_drkd_pixel"].item() == pytest.approx(2 * oa["loss_drkd_pixel"].item(), rel=1e-5)
    assert ob["loss_drkd_instance"].item() == 0.0
    m = DRKD(num_nodes=(4, 4, 8), relation_filter="none", norm="mse").eval()
    m.setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
    m.load_state_dict(a.state_dict())
    # fro: sqrt(sum of squares); mse: mean of squares. Recompute the pixel term by hand.
    expected = 0.0
    for lv in LEVELS:
        s_out = a.pixel_adapt[lv](a.student_glore[lv](f[lv]))
        t_out = a.teacher_glore[lv](t[lv])
        expected += ((s_out - t_out) ** 2).mean().item()
    assert m(_inputs(f, t, BOXES))["loss_drkd_pixel"].item() == pytest.approx(
        1e-3 * expected / 3, rel=1e-4
    )


def test_errors():
    with pytest.raises(ValueError, match="norm must be one of .* got 'l1'"):
        DRKD(norm="l1")
    with pytest.raises(ValueError, match="2 num_nodes .* 3 pixel_levels"):
        DRKD(num_nodes=(4, 4)).setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
    teacher = {**_shapes(4), "p5": ShapeSpec(channels=4, stride=64)}
    with pytest.raises(
        ValueError, match="DRKD: student 'p5' has stride 32 but teacher 'p5' has stride 64"
    ):
        DRKD(num_nodes=(4, 4, 8)).setup(_shapes(4), teacher, anchor_levels=LEVELS)
    with pytest.raises(ValueError, match="relation_weight must be >= 0"):
        DRKD(relation_weight=-1)


def test_instance_terms_equal_the_image_by_image_definition():
    # the one-pass relation and distance against the code's loop: per image and level, the
    # relation module on that image's RoIs and torch.dist, with the filters drawn in order
    from relkd.losses.drkd import feature_distance

    d = DRKD(num_nodes=(4, 4, 8), generator=torch.Generator().manual_seed(3))
    d.setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
    s, t = _feats(4, 0), _feats(4, 1)
    boxes = [BOXES[0], torch.zeros(0, 4), BOXES[1]]
    s = {k: torch.cat([v, v[:1] * 0.5]) for k, v in s.items()}  # three images
    t = {k: torch.cat([v, v[:1] * 0.5]) for k, v in t.items()}
    out = d(_inputs(s, t, boxes))
    d.generator.manual_seed(3)
    rel = ins = 0.0
    for lv in d.instance_levels:
        rs, rt = d.pool(s[lv], boxes, lv), d.pool(t[lv], boxes, lv)
        counts = [len(b) for b in boxes]
        zs = [d.student_relation[lv](c.flatten(1))[0] for c in rs.split(counts) if len(c)]
        zt = [d.teacher_relation[lv](c.flatten(1))[0] for c in rt.split(counts) if len(c)]
        zs = d.relation_adapt[lv](torch.cat(zs).view_as(rs))
        zt = torch.cat(zt).view_as(rt)
        ia = d.instance_adapt[lv](rs)
        for a, b, c, e in zip(
            zs.split(counts), zt.split(counts), ia.split(counts), rt.split(counts)
        ):
            if len(a):
                rel = rel + feature_distance(a, b)
                ins = ins + feature_distance(c, e)
    assert out["loss_drkd_relation"].item() == pytest.approx(4e-3 * rel.item(), rel=1e-5)
    assert out["loss_drkd_instance"].item() == pytest.approx(2.4e-3 * ins.item(), rel=1e-5)


def test_a_student_without_fpn_is_told_about_the_levels_not_only_num_nodes():
    # a C4 student (one anchor level, res4) with DRKD's five-level defaults used to get only
    # "5 num_nodes [...] for 1 pixel_levels ['res4']"
    shapes = {"res4": ShapeSpec(channels=16, stride=16)}
    with pytest.raises(
        ValueError,
        match=r"5 num_nodes \[64, 64, 256, 256, 256\] for 1 pixel_levels \['res4'\] \(the "
        r"student's anchor levels, .* one entry per level of an FPN p2-p6: for a student without",
    ):
        DRKD().setup(shapes, shapes, anchor_levels=["res4"])
    d = DRKD(pixel_levels=["res4"], num_nodes=[8])  # the fix the message gives
    d.setup(shapes, shapes, anchor_levels=["res4"])
    assert d.instance_levels == ["res4"]


def test_frozen_teacher_side_same_losses_and_student_gradients_no_teacher_side_training():
    # teacher_side="frozen" computes the same losses from the same weights; the student side
    # gets the same gradients (the teacher-side outputs are constants for it either way); the
    # teacher-side modules get none and are not trainable, so no optimizer takes them
    f, t = _feats(4, 0), _feats(4, 1)
    runs = {}
    for side in ("trainable", "frozen"):
        torch.manual_seed(0)
        d = DRKD(num_nodes=(4, 4, 8), teacher_side=side, generator=torch.Generator().manual_seed(5))
        d.setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
        s = {k: v.clone().requires_grad_() for k, v in f.items()}
        out = d(_inputs(s, t, BOXES))
        sum(out.values()).backward()
        runs[side] = (d, out, s)
    (dt, ot, st), (df, of, sf) = runs["trainable"], runs["frozen"]
    for k in ot:
        assert of[k].item() == ot[k].item()  # the same computation in both modes
    # the backward graphs differ (no teacher-side nodes when frozen), so autograd may sum a
    # gradient's contributions in another order: equal to rounding, not bitwise
    for lv in LEVELS:
        torch.testing.assert_close(sf[lv].grad, st[lv].grad, rtol=1e-5, atol=1e-7)
    teacher_side = [*df.teacher_glore.parameters(), *df.teacher_relation.parameters()]
    assert teacher_side and all(not p.requires_grad and p.grad is None for p in teacher_side)
    assert all(
        p.grad is not None
        for p in (*dt.teacher_glore.parameters(), *dt.teacher_relation.parameters())
    )
    trainable = {id(p) for p in df.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in df.parameters()} - {id(p) for p in teacher_side}
    student_side = dict(df.named_parameters())
    for name, p in dt.named_parameters():
        if not name.startswith(("teacher_glore", "teacher_relation")):
            torch.testing.assert_close(student_side[name].grad, p.grad, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="teacher_side must be one of .* got 'fixed'"):
        DRKD(teacher_side="fixed")


def test_a_zero_weight_term_is_not_computed_and_builds_nothing():
    # the released single-stage variant (pixel and instance weights 0): no GloRe unit and no
    # instance adapter is built, only the instance levels are asked for, the skipped terms
    # are exact zeros and the relation term is the full model's
    f, t = _feats(4, 0), _feats(4, 1)
    full = DRKD(num_nodes=(4, 4, 8), generator=torch.Generator().manual_seed(2))
    full.setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
    rel = DRKD(num_nodes=(4, 4, 8), pixel_weight=0, instance_weight=0)
    rel.generator = torch.Generator().manual_seed(2)
    rel.setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
    assert rel.requirements().student == ("p3", "p4") == rel.requirements().teacher
    assert not any(
        len(m) for m in (rel.student_glore, rel.teacher_glore, rel.pixel_adapt, rel.instance_adapt)
    )
    skipped = rel.load_state_dict(full.state_dict(), strict=False)
    assert not skipped.missing_keys
    assert {k.split(".")[0] for k in skipped.unexpected_keys} == {
        "student_glore",
        "teacher_glore",
        "pixel_adapt",
        "instance_adapt",
    }
    s = {k: v.clone().requires_grad_() for k, v in f.items()}
    want, got = full.eval()(_inputs(f, t, BOXES)), rel.eval()(_inputs(s, t, BOXES))
    assert got["loss_drkd_relation"].item() == pytest.approx(
        want["loss_drkd_relation"].item(), rel=1e-6
    )
    assert got["loss_drkd_pixel"].item() == 0.0 == got["loss_drkd_instance"].item()
    sum(got.values()).backward()
    assert s["p5"].grad is None and s["p3"].grad.abs().sum() > 0
    nothing = DRKD(num_nodes=(4, 4, 8), pixel_weight=0, relation_weight=0, instance_weight=0)
    nothing.setup(_shapes(4), _shapes(4), anchor_levels=LEVELS)
    assert not list(nothing.parameters()) and nothing.requirements().student == ()
    # as the meta-architecture calls it: only the features asked for, i.e. none
    out = nothing(_inputs({}, {}, BOXES))
    assert all(v.item() == 0.0 for v in out.values()) and len(out) == 3


def test_the_term_weights_are_named_after_the_terms():
    assert DRKD().weights == {"pixel": 1e-3, "relation": 4e-3, "instance": 2.4e-3}  # the code's
    d = DRKD(pixel_weight=1.0, relation_weight=2.0, instance_weight=0.0)
    assert d.weights == {"pixel": 1.0, "relation": 2.0, "instance": 0.0}
    assert not d.active("instance") and d.active("relation")
    with pytest.raises(ValueError, match="DRKD: relation_weight must be >= 0, got -1"):
        DRKD(relation_weight=-1)


def test_the_former_weight_names_warn_with_the_new_one_and_are_not_mixed_with_it():
    # configs written for pr_weight, ir_weight, ins_weight keep training the same model
    with pytest.warns(DeprecationWarning, match="pr_weight is deprecated; its name is now pixel"):
        old = DRKD(pr_weight=2e-3)
    assert old.weights == DRKD(pixel_weight=2e-3).weights
    with pytest.raises(TypeError, match="ins_weight is the former name of instance_weight; give"):
        DRKD(instance_weight=1.0, ins_weight=2.0)
