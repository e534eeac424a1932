"""detectron2's own model-zoo configs as relkd teachers and students.

The zoo's yacs yamls carry ``!!python/object/apply:eval`` tags and its LazyConfigs interpolate
across the whole config (``${...train.mapper.image_format}``): files relkd does not write
itself. Every zoo config runs under ``-m zoo`` (``.ci/run``: ``make test-zoo``); one config per
family and format runs in ``make test``.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from detectron2 import model_zoo
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from detectron2.structures import Boxes, Instances, PolygonMasks
from detectron2.utils.events import EventStorage

from relkd import Teacher, TeacherLoadError
from relkd.export.student import plain_class
from relkd.utils.features import capture_features

from .conftest import load_tool

ZOO = os.path.dirname(model_zoo.get_config_file("Base-RetinaNet.yaml"))


def _zoo(pattern: str) -> list[str]:
    return sorted(
        os.path.relpath(p, ZOO)
        for p in glob.glob(os.path.join(ZOO, pattern), recursive=True)
        if "__pycache__" not in p
    )


def _has_model(rel: str) -> bool:
    return "model" in LazyConfig.load(os.path.join(ZOO, rel))


# relkd reads a teacher's features by name: what each family's heads consume, written out from
# detectron2's model-zoo documentation (FPN: p2-p6 for the RPN, p2-p5 for the box head; RetinaNet
# and FCOS: p3-p7; C4: res4; DC5: a stride-16 res5), as (channels, stride)
FPN = {f"p{i}": (256, 2**i) for i in range(2, 7)}
DENSE = {f"p{i}": (256, 2**i) for i in range(3, 8)}
C4 = {"res4": (1024, 16)}
DC5 = {"res5": (2048, 16)}
NOT_DETECTORS = {
    "Misc/torchvision_imagenet_R_50.py": "an ImageNet classifier",
    "Misc/mmdet_mask_rcnn_R_50_FPN_1x.py": "needs mmdet, which is not installed",
}


def expected_features(rel: str) -> dict[str, tuple[int, int]]:
    name = os.path.basename(rel)
    if "_C4_" in name or name == "mask_rcnn_c4.py":
        return C4
    if "_DC5_" in name:
        return DC5
    if name.startswith(("retinanet", "fcos")):
        return DENSE
    if name.startswith("fast_rcnn"):  # precomputed proposals: the box head alone, p2-p5
        return {k: v for k, v in FPN.items() if k != "p6"}
    return FPN


def head_features(model) -> set[str]:
    """The feature names a detectron2 detector's heads read."""
    if hasattr(model, "head_in_features"):
        return set(model.head_in_features)
    names = set()
    for part in ("proposal_generator", "roi_heads"):
        names |= set(getattr(getattr(model, part, None), "in_features", None) or ())
    return names


YAMLS = _zoo("COCO-Detection/*.yaml") + _zoo("COCO-InstanceSegmentation/*.yaml")
LAZY = [p for p in _zoo("**/*.py") if p not in NOT_DETECTORS and _has_model(p)]
# one per family and format in `make test`; every one under -m zoo
SUBSET = {
    "COCO-Detection/retinanet_R_50_FPN_1x.yaml",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x.yaml",
    "COCO-Detection/faster_rcnn_R_50_DC5_1x.yaml",
    "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.py",
    "COCO-Detection/retinanet_R_50_FPN_1x.py",
}


def _params(names: list[str]) -> list:
    return [pytest.param(n, id=n, marks=() if n in SUBSET else pytest.mark.zoo) for n in names]


def test_the_zoo_lists_are_complete():
    # the globs found the zoo (detectron2 0.7.2 ships 27 such yamls and 29 LazyConfigs with a
    # model): a moved folder must fail here, not leave the parametrized tests empty
    assert len(YAMLS) >= 27 and len(LAZY) >= 29, (len(YAMLS), len(LAZY))
    assert SUBSET <= set(YAMLS) | set(LAZY)


@pytest.mark.parametrize("rel", _params(YAMLS + LAZY))
def test_a_zoo_config_builds_a_teacher_with_the_features_its_heads_read(rel):
    if rel.endswith("mask_rcnn_vitdet.py"):
        pytest.importorskip("timm")  # its ViT backbone; relkd does not install timm
    torch.manual_seed(0)
    # load() is not called: the weights are read at first use, which this test never reaches
    teacher = Teacher(config=os.path.join(ZOO, rel), weights="never_read.pth")
    assert not teacher.loaded
    want = expected_features(rel)
    assert head_features(teacher.model) == set(want)
    shapes = teacher.feature_shapes()
    assert {n: (shapes[n].channels, shapes[n].stride) for n in want} == want
    # what Teacher.features captures, on a 64 x 96 input padded as the teacher pads it
    div = max(teacher.backbone.size_divisibility, 1)
    square = getattr(teacher.backbone, "padding_constraints", {}).get("square_size", 0)
    h, w = max(-(-64 // div) * div, square), max(-(-96 // div) * div, square)
    with torch.no_grad():
        feats = capture_features(teacher.backbone, torch.zeros(1, 3, h, w), list(want))
    for n, (c, s) in want.items():
        assert tuple(feats[n].shape) == (1, c, -(-h // s), -(-w // s)), n


@pytest.mark.parametrize("rel", _params(YAMLS))
def test_a_zoo_yaml_is_a_yacs_teacher_through_relkd_teacher_config(rel):
    from detectron2.modeling import build_model

    from .test_yacs import tiny_retinanet

    cfg = tiny_retinanet(32)
    cfg.MODEL.META_ARCHITECTURE = "DistillRetinaNet"
    cfg.RELKD.TEACHER.CONFIG = os.path.join(ZOO, rel)
    cfg.RELKD.TEACHER.WEIGHTS = "never_read.pth"
    # the student's stride-16 level against the teacher's stride-16 feature
    (t_name,) = [n for n, (_, s) in expected_features(rel).items() if s == 16]
    cfg.RELKD.DISTILLERS = ["FeatureMSE"]
    cfg.RELKD.DISTILLER_ARGS.FeatureMSE = type(cfg)(
        {"STUDENT_FEATURES": ["p4"], "TEACHER_FEATURES": [t_name]}
    )
    model = build_model(cfg)
    assert head_features(model.teacher.model) == set(expected_features(rel))
    assert model.teacher.weights == "never_read.pth" and not model.teacher.loaded


def test_a_zoo_yaml_was_read_as_a_lazyconfig():
    # the defect: yaml.safe_load refused the eval tag, so the file was taken for a LazyConfig
    from relkd.loading import is_yacs_file

    path = model_zoo.get_config_file("Base-RetinaNet.yaml")
    assert "!!python/object/apply:eval" in open(path).read()
    assert is_yacs_file(path)
    assert type(Teacher(config=path, weights="x.pth").model).__name__ == "RetinaNet"
    # a LazyConfig saved as yaml is still one
    saved = os.path.join(os.path.dirname(path), "COCO-Detection", "retinanet_R_50_FPN_1x.py")
    assert not is_yacs_file(saved)


# --- no random teacher -----------------------------------------------------------------------


@pytest.mark.parametrize("weights", ["", None])
def test_a_teacher_without_weights_is_refused(weights):
    model = instantiate(model_zoo.get_config("common/models/retinanet.py").model)
    with pytest.raises(TeacherLoadError, match=r"model=RetinaNet, weights=.*random network"):
        Teacher(model=model, weights=weights)
    rel = "COCO-Detection/retinanet_R_50_FPN_1x.yaml"
    with pytest.raises(TeacherLoadError, match=rf"{rel}.*weights=''"):
        Teacher(config=os.path.join(ZOO, rel), weights="")
    # said explicitly, a model the caller loaded is taken as it is
    assert Teacher(model=model, loaded=True).loaded
    with pytest.raises(ValueError, match="either `weights`"):
        Teacher(model=model, weights="x.pth", loaded=True)
    with pytest.raises(ValueError, match="either `weights`"):
        Teacher(config=os.path.join(ZOO, rel), loaded=True)


def test_stock_lazyconfig_loop_refuses_an_empty_teacher_before_any_step():
    # detectron2's tools/lazyconfig_train_net.py instantiates cfg.model and has no preflight
    from .conftest import load_cfg

    cfg = load_cfg("digits/retinanet_R18_feature_mse.py", "model.teacher.weights=''")
    with pytest.raises(TeacherLoadError, match="weights=''"):
        instantiate(cfg.model)


def test_train_net_names_the_config_of_an_empty_teacher(tmp_path):
    from .conftest import run_train_net

    cfg = "configs/digits/retinanet_R18_feature_mse.py"
    proc = run_train_net(
        "--config-file",
        cfg,
        "model.teacher.weights=''",
        "train.teacher_preflight.enabled=False",
        "train.max_iter=2",
        f"train.output_dir={tmp_path}",
        check=False,
    )
    assert proc.returncode != 0
    assert f"TeacherLoadError: --config-file {cfg}: Teacher(model=RetinaNet, weights='')" in (
        proc.stderr
    )
    assert not (tmp_path / "metrics.json").exists()  # not one iteration


# --- zoo LazyConfigs as distilled students ---------------------------------------------------

STUDENTS = [
    p
    for p in LAZY
    if p.startswith(("COCO-Detection/", "COCO-InstanceSegmentation/", "new_baselines/"))
]


DISTILLED_PY = """\
# {rel} distilled as the README shows: the target swapped, a teacher, a distiller
from detectron2 import model_zoo
from detectron2.config import LazyCall as L

from relkd import Teacher, {cls}
from relkd.distillers import FeatureMSE

_zoo = model_zoo.get_config("{rel}")
dataloader, model, train = _zoo.dataloader, _zoo.model, _zoo.train
model._target_ = {cls}
model.teacher = L(Teacher)(config="configs/digits/faster_rcnn_R50_teacher.py", weights="{weights}")
model.distillers = [L(FeatureMSE)(student_features=["{feature}"], teacher_features=["p4"])]
# the trace's example image at its own size (the zoo's mapper would resize it to 800 px)
dataloader.test.mapper.augmentations = []
"""


def distilled_zoo_config(rel: str, teacher_weights: str, folder) -> str:
    """Write the zoo LazyConfig ``rel`` as a distilled student's ``.py`` config into ``folder``
    and return its path: the small digits Faster R-CNN as teacher (a saved checkpoint) and
    FeatureMSE on the student's stride-16 feature."""
    target = model_zoo.get_config(rel).model._target_.__name__
    cls = {"RetinaNet": "DistillRetinaNet", "FCOS": "DistillFCOS"}.get(target, "DistillRCNN")
    (feature,) = [n for n, (_, s) in expected_features(rel).items() if s == 16]
    path = os.path.join(folder, "distilled.py")
    with open(path, "w") as f:
        f.write(DISTILLED_PY.format(rel=rel, cls=cls, weights=teacher_weights, feature=feature))
    return path


def _tiny_input(masks: bool) -> dict:
    g = torch.Generator().manual_seed(0)
    inst = Instances((96, 128))
    inst.gt_boxes = Boxes(torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 20.0, 120.0, 90.0]]))
    inst.gt_classes = torch.tensor([3, 7])
    if masks:
        inst.gt_masks = PolygonMasks(
            [[[10, 12, 60, 12, 60, 70, 10, 70]], [[70, 20, 120, 20, 95, 90]]]
        )
    image = torch.randint(0, 256, (3, 96, 128), generator=g, dtype=torch.uint8)
    return {"image": image, "instances": inst, "height": 96, "width": 128}


@pytest.mark.parametrize("rel", _params(STUDENTS))
def test_a_zoo_lazyconfig_distils_exports_and_rebuilds_without_relkd(rel, teacher_ckpt, tmp_path):
    import cv2

    config = distilled_zoo_config(rel, teacher_ckpt["faster_rcnn"], tmp_path)
    cfg = LazyConfig.load(config)
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = model.__class__.__name__ == "DistillRCNN" and model.roi_heads.mask_on
    with EventStorage(0):
        losses = model([_tiny_input(masks), _tiny_input(masks)])
    assert "loss_feature_mse_" + cfg.model.distillers[0].student_features[0] in losses
    assert ("loss_mask" in losses) == masks == ("mask" in rel)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    sum(losses.values()).backward()
    opt.step()
    assert model.teacher.loaded
    moved = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("distillers.") for k in moved) and any(
        not k.startswith("distillers.") for k in moved
    )
    DetectionCheckpointer(model, save_dir=str(tmp_path)).save("model_final")
    image = str(tmp_path / "image.png")
    cv2.imwrite(image, _tiny_input(False)["image"].permute(1, 2, 0).numpy())
    out = str(tmp_path / "student.pth")
    ckpt = str(tmp_path / "model_final.pth")
    trace = str(tmp_path / "s.ts")
    result = load_tool("export_student").main(
        [ckpt, out, "--config-file", config, "--trace", trace, "--image", image]
    )
    assert result["config"] == str(tmp_path / "student.yaml")
    assert result["trace_max_diff"] <= 1e-4 and os.path.isfile(trace)
    # the LSJ configs' heads take a lambda as norm: their yaml is unloadable by design
    loads = result.get("config_pickle", result["config"])
    assert loads.endswith(".pkl") == ("LSJ" in rel)
    # rebuilt by detectron2 alone, in a process where `import relkd` fails
    code = f"""
        import sys; sys.modules["relkd"] = None
        import cloudpickle, torch
        from detectron2.checkpoint import DetectionCheckpointer
        from detectron2.config import LazyConfig, instantiate
        path = {loads!r}
        if path.endswith(".pkl"):
            with open(path, "rb") as f:
                cfg = cloudpickle.load(f)
        else:
            cfg = LazyConfig.load(path)
        model = instantiate(cfg.model).eval()
        DetectionCheckpointer(model).load(cfg.train.init_checkpoint)
        x = instantiate(cfg.dataloader.test.mapper)({{"file_name": {image!r}}})["image"]
        with torch.no_grad():
            print(type(model).__name__, len(model([{{"image": x}}])[0]["instances"]))
        """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[0] == plain_class(type(model)).__name__
