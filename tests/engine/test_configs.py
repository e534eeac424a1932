"""Every config instantiates; COCO configs name model-zoo teachers and load them strictly."""

import glob
import os
import re

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from relkd import DistillRCNN, DistillRetinaNet, Teacher

from ..conftest import REPO, load_cfg

COCO_PATHS = glob.glob(os.path.join(REPO, "configs/coco/*.py"))
COCO = sorted(os.path.relpath(p, os.path.join(REPO, "configs")) for p in COCO_PATHS)
COCO_CNN = [n for n in COCO if not n.startswith("coco/dab_detr")]


def test_there_are_coco_configs_for_the_papers_pairs():
    assert {
        "coco/faster_rcnn_R50_feature_mse.py",
        "coco/retinanet_R50_feature_mse.py",
        "coco/faster_rcnn_R50_fgfi.py",
        "coco/faster_rcnn_R50_drkd.py",
        "coco/retinanet_R50_drkd.py",
        "coco/faster_rcnn_R50_hgd.py",
        "coco/retinanet_R50_hgd.py",
        "coco/faster_rcnn_R50_drkd_hgd.py",
        "coco/faster_rcnn_R50_pkd.py",
        "coco/retinanet_R50_pkd.py",
        "coco/faster_rcnn_R50_cwd.py",
        "coco/retinanet_R50_cwd.py",
        "coco/faster_rcnn_R50_mgd.py",
        "coco/retinanet_R50_mgd.py",
        "coco/faster_rcnn_R50_fgd.py",
        "coco/retinanet_R50_fgd.py",
        "coco/faster_rcnn_R50_crosskd.py",
        "coco/retinanet_R50_crosskd.py",
    } <= set(COCO)


@pytest.mark.slow
@pytest.mark.parametrize("name", COCO_CNN)
def test_coco_config_instantiates_with_strictly_loaded_teacher(name, tmp_path):
    cfg = load_cfg(name)
    url = cfg.model.teacher.weights
    # a Mask R-CNN student distils from a zoo Mask R-CNN
    task = "COCO-InstanceSegmentation" if "mask_rcnn" in name else "COCO-Detection"
    assert url.startswith(f"https://dl.fbaipublicfiles.com/detectron2/{task}/"), url
    # no download here: write a checkpoint of the teacher architecture and load that strictly
    torch.manual_seed(0)
    teacher_model = instantiate(cfg.model.teacher.model)
    DetectionCheckpointer(teacher_model, str(tmp_path)).save("teacher")
    cfg.model.teacher.weights = str(tmp_path / "teacher.pth")
    model = instantiate(cfg.model)
    assert isinstance(model, (DistillRCNN, DistillRetinaNet))
    assert isinstance(model.teacher, Teacher)
    assert not model.teacher.loaded  # read when training first needs it
    t_params = dict(model.teacher.load().model.named_parameters())
    for k, v in teacher_model.named_parameters():
        assert torch.equal(t_params[k], v), k
    # the student is the standard R50, the teacher is deeper
    assert (
        len(model.backbone.bottom_up.res4) == 6 and len(model.teacher.backbone.bottom_up.res4) == 23
    )
    assert cfg.train.max_iter == 180000 and cfg.train.init_checkpoint.endswith("R-50.pkl")
    masks = "mask_rcnn" in name  # a mask head on both sides, and the masks loaded to train it
    assert model.roi_heads.mask_on is masks if hasattr(model, "roi_heads") else not masks
    if masks:
        assert model.teacher.model.roi_heads.mask_on
        assert cfg.dataloader.train.mapper.use_instance_mask


def test_coco_mask_rcnn_configs_take_the_faster_rcnn_distillers():
    for method in ("feature_mse", "fgfi", "drkd", "hgd"):
        masks = load_cfg(f"coco/mask_rcnn_R50_{method}.py")
        boxes = load_cfg(f"coco/faster_rcnn_R50_{method}.py")
        assert masks.model.distillers == boxes.model.distillers, method
    # FGFI: the paper's R101 pairing, here the zoo's Mask R-CNN R101-FPN
    fgfi = load_cfg("coco/mask_rcnn_R50_fgfi.py").model.teacher
    assert "mask_rcnn_R_101_FPN_3x" in fgfi.weights
    assert fgfi.model.backbone.bottom_up.stages.depth == 101
    base = load_cfg("coco/mask_rcnn_R50_distill_base.py").model.teacher
    assert "mask_rcnn_X_101_32x8d_FPN_3x" in base.weights


@pytest.mark.parametrize(
    "name, teacher, depths",
    [
        ("dab_detr_R18_kd_detr", "dab_detr_R50", (2, 6)),
        ("dab_detr_R50_kd_detr", "dab_detr_R101", (6, 23)),
    ],
)
def test_coco_kd_detr_configs(name, teacher, depths, tmp_path):
    from relkd import DistillDABDETR
    from relkd.distillers import KDDETR

    cfg = load_cfg(f"coco/{name}.py")
    # the teacher is the model node of the teacher's own config
    assert cfg.model.teacher.model == load_cfg(f"coco/{teacher}.py").model
    assert cfg.model.teacher.weights == f"output/coco/{teacher}/model_final.pth"
    torch.manual_seed(0)
    teacher_model = instantiate(load_cfg(f"coco/{teacher}.py").model)
    DetectionCheckpointer(teacher_model, str(tmp_path)).save("teacher")
    cfg.model.teacher.weights = str(tmp_path / "teacher.pth")
    model = instantiate(cfg.model)
    assert isinstance(model, DistillDABDETR) and isinstance(model.distillers[0], KDDETR)
    assert (len(model.backbone.res4), len(model.teacher.backbone.res4)) == depths
    assert model.num_queries == 300 and model.distillers[0].num_general_points == 300
    assert len(model.decoder.layers) == 6 and model.num_classes == 80
    # KD-DETR's recipe: 50 epochs at 64 images, x0.1 after epoch 40, backbone at 1/10 the rate
    assert cfg.train.max_iter == 50 * 1833 and cfg.optimizer.clip_grad_norm == 0.1
    sched = instantiate(cfg.lr_multiplier)
    assert sched(0.79) == pytest.approx(1.0) and sched(0.81) == pytest.approx(0.1)
    factor = cfg.optimizer.params.lr_factor_func
    assert factor("backbone.res2.0.conv1") == 0.1 and factor("decoder.layers.0.ca_v") == 1.0


def test_digits_configs_instantiate_plain_models():
    for name in (
        "retinanet_R50_teacher",
        "retinanet_R18_student",
        "faster_rcnn_R50_teacher",
        "faster_rcnn_R18_student",
        "mask_rcnn_R50_teacher",
        "mask_rcnn_R18_student",
    ):
        cfg = load_cfg(f"digits/{name}.py")
        model = instantiate(cfg.model)
        heads = model if "retinanet" in name else model.roi_heads
        assert heads.num_classes == 10
        if "rcnn" in name:
            assert heads.mask_on is name.startswith("mask_rcnn")
        assert cfg.train.device == "cpu"
        assert len(model.backbone.bottom_up.res4) == (6 if "R50" in name else 2)
    for name in ("dab_detr_R50_teacher", "dab_detr_R18_student"):
        model = instantiate(load_cfg(f"digits/{name}.py").model)
        assert model.num_classes == 10 and model.in_feature == "res4"
        assert not hasattr(model.backbone, "res5")  # cut after the feature it uses
        assert len(model.backbone.res4) == (6 if "R50" in name else 2)


def test_digits_mask_rcnn_configs():
    """The Mask R-CNN configs train on the masks of digits_det_segm, evaluate boxes and masks,
    size the zoo's mask head at the FPN width, and take the Faster R-CNN configs' distillers."""
    cfg = load_cfg("digits/mask_rcnn_R18_student.py")
    loader = cfg.dataloader
    assert loader.train.dataset.names == "digits_det_segm_train"
    assert loader.train.mapper.use_instance_mask and loader.train.mapper.instance_mask_format
    assert not loader.train.mapper.get("recompute_boxes", False)  # digits_det's boxes
    assert loader.test.dataset.names == loader.evaluator.dataset_name == "digits_det_segm_val"
    assert tuple(loader.evaluator.tasks) == ("bbox", "segm")
    heads = instantiate(cfg.model).roi_heads
    assert heads.mask_in_features == ["p2", "p3", "p4", "p5"]
    assert heads.mask_head.mask_fcn1.in_channels == heads.mask_head.mask_fcn4.out_channels == 64
    assert heads.mask_head.predictor.out_channels == 10
    assert (
        load_cfg("digits/mask_rcnn_R18_distill_base.py").model.teacher.weights
        == "output/digits/mask_rcnn_R50_teacher/model_final.pth"
    )
    for method in ("feature_mse", "fgfi", "drkd", "hgd"):
        masks = load_cfg(f"digits/mask_rcnn_R18_{method}.py")
        boxes = load_cfg(f"digits/faster_rcnn_R18_{method}.py")
        assert masks.model.distillers == boxes.model.distillers, method
        assert masks.dataloader == loader


@pytest.mark.parametrize("max_iter", [1000, 4000])
def test_schedule_follows_max_iter_override(max_iter):
    cfg = load_cfg("digits/retinanet_R18_student.py", f"train.max_iter={max_iter}")
    sched = instantiate(cfg.lr_multiplier)  # called with the fraction of training done
    warm = 200 / max_iter
    assert sched(0.0) == pytest.approx(0.001)
    assert sched(warm / 2) == pytest.approx(0.001 + 0.999 * 0.5)
    assert sched(0.5) == pytest.approx(1.0)
    assert sched(0.76) == pytest.approx(0.1)
    assert sched(0.91) == pytest.approx(0.01)


TRAINING_CONFIGS = sorted(
    os.path.relpath(p, os.path.join(REPO, "configs"))
    for p in glob.glob(os.path.join(REPO, "configs/digits/*.py"))
    + glob.glob(os.path.join(REPO, "configs/converged/*.py"))
    + COCO_PATHS
)


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING_CONFIGS)
def test_training_configs_are_complete(name):
    # a config that lost a re-exported `dataloader` or `optimizer` only fails when trained
    cfg = load_cfg(name)
    assert {"model", "dataloader", "optimizer", "lr_multiplier", "train"} <= set(cfg)
    assert "evaluator" in cfg.dataloader


def test_drkd_released_variant_keeps_only_the_relation_term():
    """The official single-stage file's DRKD: only the instance-relation term, no random
    relation filter; the same relation weight as relkd's three-term config."""
    three = load_cfg("digits/retinanet_R18_drkd.py").model.distillers[0]
    released = load_cfg("digits/retinanet_R18_drkd_released.py").model.distillers[0]
    assert released.pixel_weight == 0.0 and released.instance_weight == 0.0
    assert released.relation_filter == "none"
    assert released.relation_weight == three.relation_weight > 0
    assert three.get("relation_filter", "code") == "code"


# configs that swap in another teacher than their base's: FGFI's, PKD's and CWD's paper
# pairings on COCO (Faster R-CNN R101, which CrossKD's Faster R-CNN config takes too; their Mask
# R-CNN configs take the Mask R-CNN R101, as does FGD's, its official Mask R-CNN pairing), and
# the teachers of another detector family
TEACHER_SWAPS = {
    "coco/faster_rcnn_R50_fgfi.py",
    "coco/mask_rcnn_R50_fgfi.py",
    "coco/mask_rcnn_R50_pkd.py",
    "coco/mask_rcnn_R50_cwd.py",
    "coco/mask_rcnn_R50_fgd.py",
    "coco/mask_rcnn_R50_crosskd.py",
    "coco/faster_rcnn_R50_pkd.py",
    "coco/faster_rcnn_R50_cwd.py",
    "coco/faster_rcnn_R50_crosskd.py",
    "coco/retinanet_R50_fgfi_frcnn_teacher.py",
    "digits/retinanet_R18_fgfi_frcnn_teacher.py",
}
# method configs by name: not a student, a teacher, a base or a plain COCO DAB-DETR; COCO
# KD-DETR configs are one hop from their student's config, which has no distillation base
METHOD_CONFIGS = [
    n
    for n in TRAINING_CONFIGS
    if not re.search(r"(_student|_teacher|_teacher_fpn|_distill_base|dab_detr_R\d+)\.py$", n)
    and not re.fullmatch(r"coco/dab_detr_R\d+_kd_detr\.py", n)
]


@pytest.mark.slow
@pytest.mark.parametrize("name", METHOD_CONFIGS)
def test_method_configs_derive_from_their_distillation_base(name):
    # one hop: a method config changes the base's distillers (and output), not its student or
    # teacher (FGFI on COCO swaps in the R101 teacher, as the paper's pairing asks)
    folder, file = os.path.split(name)
    base_name = os.path.join(folder, re.sub(r"^(.*?_R\d+)_.*$", r"\1_distill_base.py", file))
    cfg = load_cfg(name)
    assert "teacher" in cfg.model, f"{name} is not a distilled config: exclude it by name"
    assert os.path.isfile(os.path.join(REPO, "configs", base_name)), f"{name}: no {base_name}"
    base = load_cfg(base_name)
    assert not base.model.distillers and cfg.model.distillers
    for key in set(base.model) - {"distillers", "teacher"}:
        assert cfg.model[key] == base.model[key], key
    if name not in TEACHER_SWAPS:
        assert cfg.model.teacher == base.model.teacher


@pytest.mark.parametrize("det", ["retinanet", "faster_rcnn"])
def test_converged_testbed_configs(det):
    # the testbed's student is the digits student at a quarter of the width; its method configs
    # take the digits configs' distillers unchanged (the defaults are fixed before the runs)
    student = instantiate(load_cfg(f"converged/{det}_R18_student.py").model)
    digits = instantiate(load_cfg(f"digits/{det}_R18_student.py").model)
    widths = [m.out_channels for m in (student.backbone.bottom_up.res5[-1],)]
    assert widths == [digits.backbone.bottom_up.res5[-1].out_channels // 4] == [64]
    assert student.backbone.output_shape() == digits.backbone.output_shape()  # same FPN
    teacher = load_cfg(f"converged/{det}_R50_teacher.py")
    assert teacher.train.max_iter == 8000
    assert teacher.model == load_cfg(f"digits/{det}_R50_teacher.py").model
    for method in ("fgfi", "drkd", "hgd"):
        cfg = load_cfg(f"converged/{det}_R18_{method}.py")
        assert cfg.model.distillers == load_cfg(f"digits/{det}_R18_{method}.py").model.distillers
        assert cfg.model.teacher.weights == f"output/converged/{det}_R50_teacher/model_final.pth"
        assert cfg.train.checkpointer.max_to_keep == 8
