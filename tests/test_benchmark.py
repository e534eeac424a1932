"""``tools/benchmark.py`` and its code in ``relkd.bench``: its phases measure what they claim.
The teacher phase runs exactly the teacher's part of a step, the plain student has the distilled
student's weights, and the CPU peak-memory probe sees an allocation and forgets it after a
reset."""

from __future__ import annotations

import json

import pytest
import torch
from detectron2.config import instantiate

from relkd.bench.batches import synthetic_batches
from relkd.bench.memory import peak_mib, reset_peak
from relkd.bench.models import build, calibrate_frozen_norms, in_auto_window, optimizer_for
from relkd.bench.timing import AUTO, PHASES, TEACHER_FP32, Phases, count_flops
from relkd.export.student import student_state

from .conftest import NO_PREFLIGHT, load_cfg, load_tool

# the script, for its command line
bench = load_tool("benchmark")


def _count_calls(modules: dict) -> dict:
    counts = {name: 0 for name in modules}

    def hook(name):
        def fn(*_):
            counts[name] += 1

        return fn

    for name, m in modules.items():
        m.register_forward_hook(hook(name))
    return counts


def test_teacher_phase_runs_backbone_only(teacher_ckpt, digits_batch):
    cfg = load_cfg(
        "digits/retinanet_R18_fgfi.py", f"model.teacher.weights={teacher_ckpt['retinanet']}"
    )
    model = instantiate(cfg.model).train()
    t = model.teacher.model
    counts = _count_calls(
        {"t_backbone": t.backbone, "t_head": t.head, "s_backbone": model.backbone}
    )
    model.teacher_forward(digits_batch)
    assert counts == {"t_backbone": 1, "t_head": 0, "s_backbone": 0}


@pytest.mark.parametrize("one_pass, decodes", [(False, 2), (True, 1)])
def test_teacher_phase_of_kd_detr_is_one_encode_and_a_decode_per_pass(
    one_pass, decodes, teacher_ckpt, digits_batch
):
    cfg = load_cfg(
        "digits/dab_detr_R18_kd_detr.py",
        f"model.teacher.weights={teacher_ckpt['dab_detr']}",
        "model.distillers.0.num_general_points=6",
        f"model.distillers.0.one_pass={one_pass}",
    )
    model = instantiate(cfg.model).train()
    t = model.teacher.model
    counts = _count_calls(
        {
            "t_encoder": t.encoder,
            "t_decoder": t.decoder,
            "s_encoder": model.encoder,
            "s_decoder": model.decoder,
        }
    )
    model.teacher_forward(digits_batch)
    assert counts == {"t_encoder": 1, "t_decoder": decodes, "s_encoder": 0, "s_decoder": 0}


def test_plain_student_has_the_distilled_students_weights(teacher_ckpt):
    cfg = load_cfg(
        "digits/faster_rcnn_R18_drkd.py", f"model.teacher.weights={teacher_ckpt['faster_rcnn']}"
    )
    args = bench.parse_args(["x"])
    model, plain = build(cfg, args, torch.device("cpu"))
    assert type(plain).__name__ == "GeneralizedRCNN" and plain.training
    ref = student_state(model.state_dict())
    got = plain.state_dict()
    assert set(got) == set(ref) and all(torch.equal(got[k], ref[k]) for k in ref)
    opt = optimizer_for(cfg, plain)
    assert opt.param_groups[0]["lr"] == pytest.approx(cfg.optimizer.lr * 1e-3)


def test_cpu_peak_memory_probe():
    device = torch.device("cpu")
    reset_peak(device)
    base = peak_mib(device)
    x = torch.ones(256 * 2**20 // 4)  # 256 MiB, touched
    del x
    high = peak_mib(device)
    assert high >= base + 200
    reset_peak(device)
    assert peak_mib(device) < high - 200


def test_synthetic_batches_are_valid_and_seeded():
    a = synthetic_batches(2, 3, 96, 160, num_classes=10)
    b = synthetic_batches(2, 3, 96, 160, num_classes=10)
    assert len(a) == 2 and len(a[0]) == 3
    for x, y in zip(a[0], b[0]):
        assert x["image"].shape == (3, 96, 160) and torch.equal(x["image"], y["image"])
        boxes = x["instances"].gt_boxes.tensor
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        assert (boxes[:, 2] <= 160).all() and (boxes[:, 3] <= 96).all()
        assert x["instances"].gt_classes.max() < 10
        assert not x["instances"].has("gt_masks")


def test_synthetic_batches_for_a_mask_head_hold_the_boxes_as_masks():
    (batch,) = synthetic_batches(1, 2, 96, 160, num_classes=10, masks=True)
    for x in batch:
        inst = x["instances"]
        masks = inst.gt_masks.tensor
        assert masks.shape == (5, 96, 160) and masks.dtype == torch.bool
        # each mask is the pixels whose centres lie in its box: the box, to a pixel
        assert (masks.sum((1, 2)) > 0).all()
        boxes, extent = inst.gt_boxes.tensor, inst.gt_masks.get_bounding_boxes().tensor
        assert ((extent - boxes).abs() <= 1).all()


def test_cli_writes_json_and_table(teacher_ckpt, tmp_path):
    out = tmp_path / "bench"
    bench.main(
        [
            "configs/digits/retinanet_R18_feature_mse.py",
            "--iters",
            "2",
            "--warmup",
            "0",
            "--batch",
            "2",
            "--output",
            str(out),
            "--opts",
            f"model.teacher.weights={teacher_ckpt['retinanet']}",
            NO_PREFLIGHT,
        ]
    )
    data = json.loads((out / "benchmark.json").read_text())
    (row,) = data["rows"]
    med = row["median_s"]
    assert row["batch"] == 2 and row["distillers"] == ["FeatureMSE"]
    assert all(med[p] > 0 for p in PHASES)
    assert row["overhead"] == pytest.approx(med["distill"] / (med["student"] + med["teacher"]))
    assert "retinanet_R18_feature_mse.py" in (out / "benchmark.md").read_text()


def test_frozen_norms_are_set_to_their_batch_statistics(digits_batch):
    from detectron2.layers import FrozenBatchNorm2d

    cfg = load_cfg(
        "digits/faster_rcnn_R18_student.py",
        "model.backbone.bottom_up.stem.norm=FrozenBN",
        "model.backbone.bottom_up.stages.norm=FrozenBN",
    )
    model = instantiate(cfg.model)
    norms = [m for m in model.backbone.modules() if isinstance(m, FrozenBatchNorm2d)]
    # detectron2's frozen norms start as the identity (variance 1 - eps, mean 0)
    assert len(norms) > 10
    assert all(torch.allclose(m.running_var, torch.ones(1), atol=1e-4) for m in norms)
    outputs = {}
    for i, m in enumerate(norms):
        # a copy: detectron2 applies ReLU in place right after each norm
        m.register_forward_hook(lambda m, a, out, i=i: outputs.__setitem__(i, out.clone()))
    assert calibrate_frozen_norms(model, digits_batch) == len(norms)
    with torch.no_grad():
        model.backbone(model.preprocess_image(digits_batch).tensor)
    assert sorted(outputs) == list(range(len(norms)))
    for i, out in outputs.items():
        # weight 1, bias 0: each channel comes out standardised on the calibration batch
        assert out.mean((0, 2, 3)).abs().max() < 1e-3, i
        assert (out.var((0, 2, 3)) - 1).abs().max() < 1e-2, i


def test_a_config_without_teacher_is_refused_by_name():
    # used to raise AttributeError: 'RetinaNet' object has no attribute 'teacher'
    cfg = load_cfg("digits/retinanet_R18_student.py")
    args = bench.parse_args(["configs/digits/retinanet_R18_student.py", "--random-teacher"])
    with pytest.raises(
        SystemExit, match=r"model \(RetinaNet\) has no teacher; .* give a distilled"
    ):
        build(cfg, args, "cpu")


def test_a_random_teacher_keeps_the_configs_teacher_arguments():
    """``--random-teacher`` drops the checkpoint, not the rest: a config's ``dtype`` and
    ``channels_last`` reach the teacher timed (they were lost once, so a run meant to time an
    NCHW bf16 teacher timed the default layout)."""
    path = "configs/digits/retinanet_R18_fgfi.py"
    args = bench.parse_args([path, "--random-teacher"])
    cfg = load_cfg(
        "digits/retinanet_R18_fgfi.py",
        "model.teacher.dtype=bf16",
        "model.teacher.channels_last=False",
    )
    model, _ = build(cfg, args, torch.device("cpu"))
    assert (model.teacher.dtype, model.teacher.channels_last) == ("bf16", False)
    assert model.teacher.weights == "" and model.teacher.loaded


def test_a_half_precision_teacher_is_also_timed_in_fp32(teacher_ckpt, digits_batch):
    """With ``--teacher-dtype bf16`` the teacher phase runs the bf16 teacher on channels-last
    weights, the (b32) phase a copy of it in fp32 on NCHW weights (the default teacher), and
    neither phase converts the other's weights: the bf16 teacher stays channels-last."""
    from relkd.teacher import weights_channels_last

    args = bench.parse_args(["configs/digits/retinanet_R18_fgfi.py", "--teacher-dtype", "bf16"])
    cfg = load_cfg(
        "digits/retinanet_R18_fgfi.py",
        f"model.teacher.weights={teacher_ckpt['retinanet']}",
        NO_PREFLIGHT,
    )
    model, plain = build(cfg, args, torch.device("cpu"))
    half = model.teacher
    seen = []
    forward = model.teacher_forward

    def recording(batch):
        forward(batch)
        seen.append((model.teacher.dtype, weights_channels_last(model.teacher.model)))

    model.teacher_forward = recording
    phases = Phases(cfg, model, plain, torch.device("cpu"), amp=False)
    for _ in range(2):
        phases.run("teacher", digits_batch)
        phases.run(TEACHER_FP32, digits_batch)
    assert seen == [("bf16", True), ("fp32", False)] * 2
    assert model.teacher is half and half.dtype == "bf16"
    assert phases.teacher_fp32().model is not half.model


def test_the_auto_window_phase_measures_in_every_step(teacher_ckpt, digits_batch):
    """``--auto-window``'s model has the same weights and auto distillers whose window never
    ends: each of its steps adds to the window's sums, and the weight stays unset."""
    cfg = load_cfg(
        "digits/retinanet_R18_fgfi.py",
        f"model.teacher.weights={teacher_ckpt['retinanet']}",
        NO_PREFLIGHT,
    )
    args = bench.parse_args(["configs/digits/retinanet_R18_fgfi.py", "--auto-window"])
    model, plain = build(cfg, args, torch.device("cpu"))
    auto = in_auto_window(cfg, model, torch.device("cpu"))
    own = auto.state_dict()
    assert all(torch.equal(own[k], v) for k, v in model.state_dict().items())
    phases = Phases(cfg, model, plain, torch.device("cpu"), amp=False, auto_model=auto)
    for _ in range(3):
        phases.run(AUTO, digits_batch)
    (d,) = auto.distillers
    assert d.auto.seen.item() == 3 and d.auto.measured.item() == 3 and not d.auto.is_set
    assert model.distillers[0].auto is None  # the model of phase (c) keeps its numeric weight


def test_flops_of_the_distill_step_are_the_two_phases_plus_the_adapters(teacher_ckpt, digits_batch):
    """``--flops``: a FeatureMSE step is the student's step, the teacher's part and the
    distiller's 1x1 adapters, nothing else that multiplies: ``c - a - b`` equals the adapters'
    forward, input-gradient and weight-gradient products, 3 x 2 x C_s x C_t per pixel."""
    cfg = load_cfg(
        "digits/retinanet_R18_feature_mse.py",
        f"model.teacher.weights={teacher_ckpt['retinanet']}",
        NO_PREFLIGHT,
    )
    args = bench.parse_args(["configs/digits/retinanet_R18_feature_mse.py"])
    model, plain = build(cfg, args, torch.device("cpu"))
    phases = Phases(cfg, model, plain, torch.device("cpu"), amp=False)
    flops = count_flops(phases, digits_batch)
    adapters = model.distillers[0].adapters  # {student level: Sequential(1x1 conv)}
    images = model.preprocess_image(digits_batch).tensor
    with torch.no_grad():
        feats = model.backbone(images)
    expected = 0
    for name, conv in adapters.items():
        c_t, c_s = conv[0].weight.shape[:2]
        pixels = feats[name].shape[0] * feats[name].shape[2] * feats[name].shape[3]
        expected += 3 * 2 * c_s * c_t * pixels
    assert expected > 0 and flops["student"] > 0 and flops["teacher"] > 0
    assert flops["distill"] - flops["student"] - flops["teacher"] == expected
