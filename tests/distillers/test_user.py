"""A distiller of the user's own (tests/distillers/user/head_mimic.py) trains under LazyConfig
and yacs without any edit of relkd; the input mechanism it relies on refuses what a
meta-architecture cannot provide, by name."""

from __future__ import annotations

import os

import pytest
import torch
from detectron2.config import LazyCall as L
from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

from relkd import Teacher
from relkd.distillers import INPUT_KINDS, Distiller, Requirements

from ..conftest import load_cfg

USER = "tests.distillers.user.head_mimic.HeadMimic"


def _random_teacher(cfg):
    # random weights, declared as loaded: the tests need a teacher, not a trained one
    torch.manual_seed(1)
    return L(Teacher)(model=instantiate(cfg.model.teacher.model), loaded=True)


def _expected(model, batch) -> torch.Tensor:
    """HeadMimic's term, recomputed from both models' heads run here."""
    images = model.preprocess_image(batch)
    feats = model.backbone(images.tensor)
    levels = model.head_in_features
    student, _ = model.head([feats[n] for n in levels])
    teacher_model = model.teacher.model
    t_images = model.teacher.prepare_images(images.tensor, images.image_sizes)
    t_feats = teacher_model.backbone(t_images)
    teacher, _ = teacher_model.head([t_feats[n] for n in levels])
    diffs = [(s.sigmoid() - t.sigmoid()).pow(2).flatten() for s, t in zip(student, teacher)]
    n_gt = sum(len(x["instances"]) for x in batch)
    return torch.cat(diffs).mean() / (1 + n_gt)


def test_a_user_distiller_trains_from_a_lazyconfig(digits_batch):
    from .user.head_mimic import HeadMimic

    cfg = load_cfg("digits/retinanet_R18_distill_base.py")
    cfg.model.teacher = _random_teacher(cfg)
    cfg.model.distillers = [L(HeadMimic)(levels=cfg.model.head_in_features, loss_weight=2.0)]
    model = instantiate(cfg.model).train()
    with EventStorage(0):
        losses = model(digits_batch)
    loss = losses["loss_head_mimic_probs"]
    with torch.no_grad():
        expected = 2.0 * _expected(model, digits_batch)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-9)
    loss.backward()
    # the gradient reaches the student's class-score conv through the recorded calls, and
    # nothing of the teacher's head
    assert model.head.cls_score.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.model.parameters())
    assert model.head.bbox_pred.weight.grad is None  # this term reads no box branch


def test_a_user_distiller_is_named_in_yacs_by_its_dotted_name(tmp_path, digits_batch):
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    from ..test_yacs import tiny_retinanet

    tcfg = tiny_retinanet(64)
    (tmp_path / "teacher.yaml").write_text(tcfg.dump())
    torch.manual_seed(1)
    DetectionCheckpointer(build_model(tcfg), save_dir=str(tmp_path)).save("teacher")
    cfg = tiny_retinanet(32)
    cfg.MODEL.META_ARCHITECTURE = "DistillRetinaNet"
    cfg.RELKD.TEACHER.CONFIG = str(tmp_path / "teacher.yaml")
    cfg.RELKD.TEACHER.WEIGHTS = str(tmp_path / "teacher.pth")
    cfg.RELKD.DISTILLERS = [USER]  # imported by the build: no code of the user's runs before
    # as a user's yaml gives it: the arguments under the class name
    (tmp_path / "student.yaml").write_text(
        "RELKD:\n  DISTILLER_ARGS:\n    HeadMimic:\n      LOSS_WEIGHT: 3.0\n"
    )
    cfg.merge_from_file(str(tmp_path / "student.yaml"))
    model = build_model(cfg).train()
    (d,) = model.distillers
    assert type(d).__name__ == "HeadMimic" and d.loss_weight == 3.0
    with EventStorage(0):
        losses = model(digits_batch)
    with torch.no_grad():
        expected = 3.0 * _expected(model, digits_batch)
    torch.testing.assert_close(losses["loss_head_mimic_probs"], expected, rtol=1e-5, atol=1e-9)
    # once imported, the class is registered: its short name works too
    cfg.RELKD.DISTILLERS = ["HeadMimic"]
    assert type(build_model(cfg).distillers[0]).__name__ == "HeadMimic"


def test_unknown_distiller_names_say_how_to_register(tmp_path):
    from detectron2.config import get_cfg

    from relkd import add_relkd_config
    from relkd.meta_arch.yacs import build_distillers

    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.RELKD.DISTILLERS = ["HeadMimc"]
    with pytest.raises(ValueError, match=r"unknown distiller 'HeadMimc'.*DISTILLER_REGISTRY"):
        build_distillers(cfg)
    cfg.RELKD.DISTILLERS = ["tests.distillers.user.head_mimic.gt_count"]
    with pytest.raises(ValueError, match="not a relkd Distiller subclass"):
        build_distillers(cfg)


class _Reads(Distiller):
    """A distiller that declares what it is given and returns nothing of substance."""

    name = "reads"

    def __init__(self, req: Requirements):
        super().__init__()
        self.req = req

    def terms(self):
        return ["zero"]

    def required_features(self):
        return self.req

    def compute(self, inputs):
        self.seen = inputs
        return {"zero": inputs.student_features["p3"].sum() * 0}


def _build(config: str, req: Requirements):
    cfg = load_cfg(config)
    cfg.model.teacher = _random_teacher(cfg)
    cfg.model.distillers = [L(_Reads)(req=req)]
    return instantiate(cfg.model).train()


def test_recorded_module_calls_are_the_head_as_it_ran(digits_batch):
    req = Requirements(("p3",), ("p3",), student_modules=("head.cls_subnet", "head.bbox_pred"))
    model = _build("digits/retinanet_R18_distill_base.py", req)
    with EventStorage(0):
        model(digits_batch)
    calls = model.distillers[0].seen.student_modules
    images = model.preprocess_image(digits_batch)
    with torch.no_grad():
        feats = model.backbone(images.tensor)
        levels = [feats[n] for n in model.head_in_features]
        # one call per FPN level, in level order, with the level as its argument
        assert len(calls["head.cls_subnet"]) == len(levels) == 5
        for call, x in zip(calls["head.cls_subnet"], levels):
            torch.testing.assert_close(call.args[0], x)
            torch.testing.assert_close(call.output, model.head.cls_subnet(x))
        for call, x in zip(calls["head.bbox_pred"], levels):
            torch.testing.assert_close(call.output, model.head.bbox_pred(model.head.bbox_subnet(x)))
    # the hooks are gone after the step: evaluation records nothing
    assert not any(m._forward_hooks for m in model.head.modules())


def test_a_registered_kind_reaches_the_distiller_and_anchors_match_the_generator(digits_batch):
    from .user import head_mimic  # noqa: F401  (registers "gt_count")

    req = Requirements(("p3",), ("p3",), inputs=("gt_count", "images"), anchors=True)
    model = _build("digits/faster_rcnn_R18_distill_base.py", req)
    with EventStorage(0):
        model(digits_batch)
    seen = model.distillers[0].seen
    assert seen.get("gt_count") == sum(len(x["instances"]) for x in digits_batch)
    assert seen.get("images").tensor.shape[0] == 2
    rpn = model.proposal_generator
    feats = model.backbone(model.preprocess_image(digits_batch).tensor)
    want = rpn.anchor_generator([feats[f] for f in rpn.in_features])
    assert seen.anchor_levels == list(rpn.in_features)
    assert all(torch.equal(a.tensor, b.tensor) for a, b in zip(seen.anchors, want))
    assert seen.anchors is seen.get("anchors")
    with pytest.raises(KeyError, match="'detr_points' was not provided.*Requirements.inputs"):
        seen.get("detr_points")


@pytest.mark.parametrize(
    "config, req, words",
    [
        (
            "digits/retinanet_R18_distill_base.py",
            Requirements(("p3",), ("p3",), inputs=("logits_of_p9",)),
            r"_Reads: no input kind 'logits_of_p9'; registered: \[.*'anchors'.*INPUT_KINDS",
        ),
        (
            "digits/retinanet_R18_distill_base.py",
            Requirements(("p3",), ("p3",), detr_points=True),
            r"_Reads reads input 'detr_points', which DistillRetinaNet does not provide",
        ),
        (
            "digits/dab_detr_R18_distill_base.py",
            Requirements(inputs=("anchors",)),
            r"_Reads reads input 'anchors', which DistillDABDETR has no anchors",
        ),
        (
            "digits/retinanet_R18_distill_base.py",
            Requirements(("p3",), ("p3",), student_modules=("head.cls_subnet.9",)),
            r"records student submodule\(s\) \['head.cls_subnet.9'\], which DistillRetinaNet "
            r"does not have; its head modules: \['head', 'head.bbox_pred'",
        ),
    ],
)
def test_inputs_a_host_cannot_provide_are_refused_by_name(config, req, words):
    with pytest.raises(ValueError, match=words):
        _build(config, req)


def test_a_kind_is_registered_once():
    with pytest.raises(ValueError, match="'anchors' is already registered"):
        INPUT_KINDS.register("anchors")(lambda step: None)


def test_a_user_distiller_trains_with_train_net(tmp_path, teacher_ckpt):
    # a user's LazyConfig file, outside configs/, naming the user's class: train_net.py trains
    # it as it trains relkd's own (the process imports the user's module through the config)
    from ..conftest import NO_PREFLIGHT, REPO, read_json, run_train_net
    from ..engine.test_train_net import MINI_EVAL

    base = os.path.join(REPO, "configs", "digits", "retinanet_R18_distill_base.py")
    config = tmp_path / "retinanet_head_mimic.py"
    config.write_text(
        "from detectron2.config import LazyCall as L\n"
        "from detectron2.config import LazyConfig\n\n"
        "from tests.distillers.user.head_mimic import HeadMimic\n\n"
        f"_base = LazyConfig.load({base!r})\n"
        "model, dataloader, train = _base.model, _base.dataloader, _base.train\n"
        "optimizer, lr_multiplier = _base.optimizer, _base.lr_multiplier\n"
        "model.distillers = [L(HeadMimic)(levels=model.head_in_features, loss_weight=2.0)]\n"
    )
    out = tmp_path / "run"
    run_train_net(
        "--config-file",
        str(config),
        f"model.teacher.weights={teacher_ckpt['retinanet']}",
        NO_PREFLIGHT,
        "train.max_iter=2",
        f"train.output_dir={out}",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
        *MINI_EVAL,
    )
    summary = read_json(str(out / "summary.json"))
    assert summary["iterations"] == 2
    assert summary["last_losses"]["loss_head_mimic_probs"] > 0
