"""The yacs entry point: ``add_relkd_config`` plus ``META_ARCH_REGISTRY`` build a distilling
RetinaNet through detectron2's own ``build_model``, with the teacher from a yacs yaml."""

from __future__ import annotations

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import CfgNode, get_cfg
from detectron2.engine import DefaultTrainer
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from relkd import DistillRetinaNet, Teacher, TeacherLoadError, add_relkd_config
from relkd.distillers import FGFI


def tiny_retinanet(fpn_channels: int) -> CfgNode:
    """A yacs ResNet-18 FPN RetinaNet for 10 classes, on CPU."""
    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "RetinaNet"
    cfg.MODEL.BACKBONE.NAME = "build_retinanet_resnet_fpn_backbone"
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res3", "res4", "res5"]
    cfg.MODEL.FPN.IN_FEATURES = ["res3", "res4", "res5"]
    cfg.MODEL.FPN.OUT_CHANNELS = fpn_channels
    cfg.MODEL.RETINANET.NUM_CLASSES = 10
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[16], [32], [64], [128], [256]]
    return cfg


@pytest.fixture(scope="module")
def teacher_files(tmp_path_factory):
    """A yacs teacher yaml (FPN width 64) and its checkpoint."""
    root = tmp_path_factory.mktemp("yacs")
    tcfg = tiny_retinanet(64)
    path = root / "teacher.yaml"
    path.write_text(tcfg.dump())
    torch.manual_seed(1)
    teacher = build_model(tcfg)
    DetectionCheckpointer(teacher, save_dir=str(root)).save("teacher")
    return str(path), str(root / "teacher.pth"), teacher.state_dict()


def student_cfg(teacher_files) -> CfgNode:
    yaml, weights, _ = teacher_files
    cfg = tiny_retinanet(32)
    cfg.MODEL.META_ARCHITECTURE = "DistillRetinaNet"
    cfg.RELKD.TEACHER.CONFIG = yaml
    cfg.RELKD.TEACHER.WEIGHTS = weights
    cfg.RELKD.DISTILLERS = ["FGFI"]
    cfg.RELKD.DISTILLER_ARGS.FGFI = CfgNode(
        {"FEATURES": ["p3", "p4"], "LOSS_WEIGHT": 0.5, "WARMUP_ITERS": 0, "ADAPTER_RELU": False}
    )
    return cfg


def test_build_model_makes_a_distilling_retinanet(teacher_files, digits_batch):
    cfg = student_cfg(teacher_files)
    model = DefaultTrainer.build_model(cfg)  # detectron2's own path: build_model + registry
    assert type(model) is DistillRetinaNet
    assert not model.teacher.loaded  # its checkpoint is read when training first needs it
    (fgfi,) = model.distillers
    assert isinstance(fgfi, FGFI) and fgfi.loss_weight == 0.5 and fgfi.features == ["p3", "p4"]
    assert fgfi.adapters["p3"][0].in_channels == 32
    assert fgfi.adapters["p3"][0].out_channels == 64
    assert not isinstance(fgfi.adapters["p3"][-1], torch.nn.ReLU)
    model.train()
    with EventStorage(0):
        losses = model(digits_batch)
    assert {"loss_cls", "loss_box_reg", "loss_fgfi_imitation"} <= set(losses)
    assert losses["loss_fgfi_imitation"].item() > 0
    assert all(torch.isfinite(v) for v in losses.values())
    # the teacher came from the yaml (FPN 64 against the student's 32) and its checkpoint
    saved = teacher_files[2]
    loaded = model.teacher.model.state_dict()
    assert model.teacher.loaded and sorted(loaded) == sorted(saved)
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)


def test_evaluation_needs_no_teacher_checkpoint(teacher_files, digits_batch):
    # DefaultTrainer.build_model used to read the teacher checkpoint, which inference never uses
    cfg = student_cfg(teacher_files)
    cfg.RELKD.TEACHER.WEIGHTS = "nowhere.pth"
    model = DefaultTrainer.build_model(cfg).eval()
    with torch.no_grad():
        (out,) = model([{"image": digits_batch[0]["image"]}])
    assert "instances" in out
    model.train()
    with EventStorage(0), pytest.raises(TeacherLoadError, match="nowhere.pth"):
        model(digits_batch)  # training does need it, and says which file is missing


def test_a_lazyconfig_teacher_may_be_a_yacs_yaml(teacher_files):
    # Teacher(config="teacher.yaml") used to read the yaml as a LazyConfig and blame the
    # checkpoint ("unreadable: Missing key state_dict")
    yaml, weights, saved = teacher_files
    teacher = Teacher(config=yaml, weights=weights).load()
    loaded = teacher.model.state_dict()
    assert sorted(loaded) == sorted(saved)
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)


def test_relkd_node_survives_a_yaml_round_trip(teacher_files, tmp_path):
    cfg = student_cfg(teacher_files)
    path = tmp_path / "student.yaml"
    path.write_text(cfg.dump())
    fresh = get_cfg()
    add_relkd_config(fresh)
    fresh.merge_from_file(str(path))
    assert fresh.RELKD.DISTILLER_ARGS.FGFI.FEATURES == ["p3", "p4"]
    assert fresh.RELKD.TEACHER.WEIGHTS == teacher_files[1]
    assert fresh.MODEL.META_ARCHITECTURE == "DistillRetinaNet"


def test_an_auto_weight_is_written_in_a_yaml(teacher_files, tmp_path):
    cfg = student_cfg(teacher_files)
    del cfg.RELKD.DISTILLER_ARGS["FGFI"]
    path = tmp_path / "student.yaml"
    text = cfg.dump().replace(
        "DISTILLER_ARGS: {}",
        "DISTILLER_ARGS:\n    FGFI:\n      FEATURES: [p3, p4]\n      LOSS_WEIGHT: auto\n"
        "      TARGET_RATIO: 0.25\n      AUTO_WINDOW: 5",
    )
    assert "LOSS_WEIGHT: auto" in text
    path.write_text(text)
    fresh = get_cfg()
    add_relkd_config(fresh)
    fresh.merge_from_file(str(path))
    (fgfi,) = build_model(fresh).distillers
    assert fgfi.loss_weight == "auto"
    assert (fgfi.auto.target_ratio, fgfi.auto.window, fgfi.auto.per_term) == (0.25, 5, False)


@pytest.mark.parametrize(
    "edit, error, words",
    [
        (lambda c: c.RELKD.update(DISTILLERS=["FGFY"]), ValueError, "FGFY"),
        (lambda c: c.RELKD.DISTILLER_ARGS.FGFI.update(PSY=0.5), TypeError, "psy"),
        (lambda c: c.RELKD.DISTILLER_ARGS.update(DRKD=CfgNode()), ValueError, "DRKD"),
        (lambda c: c.RELKD.TEACHER.update(WEIGHTS=""), TeacherLoadError, "WEIGHTS is empty"),
        (lambda c: c.RELKD.TEACHER.update(CONFIG="nowhere.yaml"), FileNotFoundError, "nowhere"),
    ],
)
def test_bad_relkd_keys_name_the_value(teacher_files, edit, error, words):
    cfg = student_cfg(teacher_files)
    edit(cfg)
    with pytest.raises(error, match=words):
        build_model(cfg)


def test_missing_relkd_node_says_what_to_call():
    cfg = tiny_retinanet(32)
    del cfg["RELKD"]
    cfg.MODEL.META_ARCHITECTURE = "DistillRCNN"
    with pytest.raises(KeyError, match="add_relkd_config"):
        build_model(cfg)


def test_yacs_skip_needs_relkd_build_optimizer(teacher_files, digits_batch):
    # RELKD.NONFINITE: skip under a stock DefaultTrainer optimizer used to log "Skipping" while
    # weight decay and moments still changed the weights
    import itertools

    from detectron2.engine import SimpleTrainer

    from relkd.engine.optim import build_optimizer

    cfg = student_cfg(teacher_files)
    cfg.RELKD.NONFINITE = "skip"
    cfg.SOLVER.BASE_LR = 1e-4
    model = build_model(cfg)
    stock = DefaultTrainer.build_optimizer(cfg, model)
    with pytest.raises(ValueError, match=r"DefaultTrainer.build_optimizer"):
        SimpleTrainer(model, itertools.repeat(digits_batch), stock).train(0, 1)
    model = build_model(cfg)
    opt = build_optimizer(cfg, model)  # detectron2's SOLVER.* optimizer, guarded
    assert type(opt).__name__ == "GuardedSGD" and opt.param_groups[0]["lr"] == 1e-4
    trainer = SimpleTrainer(model, itertools.repeat(digits_batch), opt)
    trainer.train(0, 1)
    assert opt.skipped_steps == 0 and len(opt.state) > 0  # it stepped (momentum buffers)


def test_drkd_weights_are_read_by_their_names_and_former_names():
    from relkd.meta_arch.yacs import build_distillers

    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.RELKD.DISTILLERS = ["DRKD"]
    cfg.RELKD.DISTILLER_ARGS.DRKD = CfgNode({"RELATION_WEIGHT": 0.5})
    assert build_distillers(cfg)[0].weights["relation"] == 0.5
    cfg.RELKD.DISTILLER_ARGS.DRKD = CfgNode({"IR_WEIGHT": 0.5})
    with pytest.warns(DeprecationWarning, match="its name is now relation_weight"):
        assert build_distillers(cfg)[0].weights["relation"] == 0.5
    cfg.RELKD.DISTILLER_ARGS.DRKD.RELATION_WEIGHT = 0.25
    with pytest.raises(TypeError, match="DISTILLER_ARGS.DRKD: DRKD: ir_weight is the former name"):
        build_distillers(cfg)
