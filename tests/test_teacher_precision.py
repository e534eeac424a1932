"""``Teacher(dtype="bf16" | "fp16")``: the teacher's forward under autocast, fp32 out.

Tolerances (relative L2 error of a feature map against the fp32 forward of the same weights):
bf16 keeps 8 significant bits, so each rounding errs by up to 2^-9 (2e-3), and the ResNet-50 +
FPN of the digits RetinaNet teacher (the tests' seeded weights) accumulates 2.6e-2 to 2.8e-2
on p3 and res4; fp16 keeps 11 bits and accumulates 3.7e-3 to 4.1e-3. The bounds are 2.5 times
those.
"""

from __future__ import annotations

import pytest
import torch
from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

from relkd import Teacher
from relkd.teacher import InputSpec, weights_channels_last

from .conftest import NO_PREFLIGHT, load_cfg

TOLERANCE = {"bf16": 7e-2, "fp16": 1e-2}


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / a.norm()).item()


@pytest.fixture(scope="module")
def teacher_model(teacher_ckpt):
    from relkd.loading import load_strict

    model = instantiate(load_cfg("digits/retinanet_R50_teacher.py").model).eval()
    load_strict(model, teacher_ckpt["retinanet"])
    return model


def _features(
    model, dtype: str, images: torch.Tensor, channels_last: bool | None = None
) -> dict[str, torch.Tensor]:
    teacher = Teacher(model=model, dtype=dtype, channels_last=channels_last, loaded=True)
    teacher.attach(InputSpec.of(model))
    return teacher.features(images, [tuple(images.shape[-2:])] * len(images), ["p3", "res4"])


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_half_precision_features_are_fp32_and_near_the_fp32_ones(dtype, teacher_model):
    torch.manual_seed(0)
    images = torch.randn(2, 3, 128, 128)
    full, half = _features(teacher_model, "fp32", images), _features(teacher_model, dtype, images)
    for name in full:
        assert half[name].dtype == torch.float32
        err = rel_error(full[name], half[name])
        # above 1e-5: the forward did run in half precision (fp32 would give 0)
        assert 1e-5 < err < TOLERANCE[dtype], (name, err)


def test_fp32_is_fp32_under_amp_and_the_default_follows_amp(teacher_model):
    torch.manual_seed(0)
    images = torch.randn(1, 3, 64, 64)
    full = _features(teacher_model, "fp32", images)["p3"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        forced = _features(teacher_model, "fp32", images)["p3"]
        default = _features(teacher_model, None, images)["p3"]
    assert torch.equal(forced, full)  # the same fp32 computation
    # the default runs in AMP's bf16, as before Teacher had a dtype; handed over in fp32
    assert default.dtype == torch.float32
    assert 1e-5 < rel_error(full, default) < TOLERANCE["bf16"]


@pytest.mark.parametrize(
    "dtype, channels_last, expected",
    [(None, None, False), ("fp32", None, False), ("bf16", None, True), ("fp16", None, True)]
    + [("bf16", False, False), ("fp32", True, True)],
)
def test_the_layout_defaults_to_channels_last_with_a_half_dtype(
    dtype, channels_last, expected, teacher_model
):
    teacher = Teacher(model=teacher_model, dtype=dtype, channels_last=channels_last, loaded=True)
    assert teacher.uses_channels_last is expected


def test_the_layout_is_applied_at_each_run_and_features_leave_nchw(teacher_model):
    """A bf16 teacher converts the weights to channels-last; an fp32 teacher on the same model
    converts them back and computes exactly what it computed before (the same NCHW
    computation); every feature handed over is NCHW-contiguous."""
    torch.manual_seed(0)
    images = torch.randn(2, 3, 96, 128)
    teacher_model.to(memory_format=torch.contiguous_format)
    before = _features(teacher_model, "fp32", images)
    half = _features(teacher_model, "bf16", images)
    assert weights_channels_last(teacher_model)
    after = _features(teacher_model, "fp32", images)
    assert weights_channels_last(teacher_model) is False
    for name in before:
        assert torch.equal(before[name], after[name]), name
        assert half[name].is_contiguous() and half[name].dtype == torch.float32


def test_a_channels_last_fp32_teacher_only_reorders_sums(teacher_model):
    """fp32 on channels-last weights: the same products summed in another order (oneDNN's
    blocked kernels), so equal to the NCHW features up to fp32 rounding (measured 6e-7 to
    7e-7 relative on the digits teacher), not bitwise."""
    torch.manual_seed(0)
    images = torch.randn(2, 3, 128, 128)
    nchw = _features(teacher_model, "fp32", images)
    nhwc = _features(teacher_model, "fp32", images, channels_last=True)
    for name in nchw:
        assert rel_error(nchw[name], nhwc[name]) < 1e-5, name


def test_a_layout_that_is_not_a_bool_is_refused_by_name(teacher_model):
    with pytest.raises(ValueError, match=r"channels_last must be None, True or False, got 'on'"):
        Teacher(model=teacher_model, channels_last="on", loaded=True)


def test_an_unknown_dtype_is_refused_by_name(teacher_model):
    with pytest.raises(ValueError, match=r"None or one of \['bf16', 'fp16', 'fp32'\], got 'fp64'"):
        Teacher(model=teacher_model, dtype="fp64", loaded=True)


@pytest.mark.parametrize("name", ["retinanet_R18_fgfi.py", "dab_detr_R18_kd_detr.py"])
def test_distillation_with_a_bf16_teacher_stays_finite_and_near_fp32(
    name, teacher_ckpt, digits_batch
):
    det = name.split("_R18_")[0]
    losses = {}
    for dtype in ("fp32", "bf16"):
        cfg = load_cfg(
            f"digits/{name}",
            f"model.teacher.weights={teacher_ckpt[det]}",
            f"model.teacher.dtype={dtype}",
            NO_PREFLIGHT,
        )
        torch.manual_seed(0)
        model = instantiate(cfg.model).train()
        with EventStorage(10_000):
            out = model(digits_batch)
        keys = [k for d in model.distillers for k in d.loss_keys()]
        losses[dtype] = torch.stack([out[k].detach() for k in keys])
    assert torch.isfinite(losses["bf16"]).all()
    assert torch.allclose(losses["bf16"], losses["fp32"], rtol=5e-2), losses


def test_the_yacs_key_reaches_the_teacher():
    from detectron2.config import get_cfg

    from relkd import add_relkd_config
    from relkd.meta_arch.yacs import build_teacher

    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.RELKD.TEACHER.CONFIG = "configs/digits/retinanet_R50_teacher.py"
    cfg.RELKD.TEACHER.WEIGHTS = "loaded/at/first/use.pth"
    assert cfg.RELKD.TEACHER.DTYPE == "" and build_teacher(cfg).dtype is None
    cfg.RELKD.TEACHER.DTYPE = "bf16"
    assert build_teacher(cfg).dtype == "bf16" and build_teacher(cfg).channels_last is None
    for layout, channels_last in (("channels_last", True), ("nchw", False)):
        cfg.RELKD.TEACHER.LAYOUT = layout
        assert build_teacher(cfg).channels_last is channels_last
    cfg.RELKD.TEACHER.LAYOUT = "NHWC"
    with pytest.raises(ValueError, match=r"LAYOUT must be one of \['', 'channels_last', 'nchw'\]"):
        build_teacher(cfg)


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_the_preflight_and_teacher_ap_evaluate_the_teacher_in_its_dtype(
    dtype, teacher_ckpt, monkeypatch
):
    from relkd.engine.preflight import teacher_preflight

    from .conftest import load_tool

    overrides = (
        f"model.teacher.weights={teacher_ckpt['retinanet']}",
        f"model.teacher.dtype={dtype}",
    )
    cfg = load_cfg("digits/retinanet_R18_fgfi.py", *overrides)
    cfg.train.teacher_preflight = {"enabled": True, "num_images": 2, "min_ap": 0.0}
    model = instantiate(cfg.model)
    seen = []
    model.teacher.model.backbone.register_forward_hook(
        lambda *_: seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu"))
    )
    assert teacher_preflight(cfg, model) >= 0.0
    assert seen and set(seen) == {torch.bfloat16 if dtype == "bf16" else False}
    # the tool: the same evaluation from the command line
    tool = load_tool("teacher_ap")
    ap = tool.main(["configs/digits/retinanet_R18_fgfi.py", "--images", "2", *overrides])
    assert isinstance(ap, float)
