"""``tools/visualize.py`` on a tiny distilled Faster R-CNN (DRKD + FGFI): every picture is
written with its expected size, and the relation matrices it draws are DRKD's."""

from __future__ import annotations

import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig, instantiate
from PIL import Image
from toolkit.vis import capture_distill_inputs, relation_matrices

from relkd.distillers import FGFI

from .conftest import NO_PREFLIGHT, load_cfg, run_tool

SCALE, SIZE = 2, 128  # digits_det images are 128 x 128


@pytest.fixture(scope="module")
def distilled(teacher_ckpt, tmp_path_factory):
    root = tmp_path_factory.mktemp("vis")
    cfg = load_cfg(
        "digits/faster_rcnn_R18_drkd.py",
        f"model.teacher.weights={teacher_ckpt['faster_rcnn']}",
        f"train.output_dir={root}",
        NO_PREFLIGHT,
    )
    cfg.model.distillers.append(L(FGFI)(features=["p3", "p4"], adapter_relu=False))
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    DetectionCheckpointer(model, save_dir=str(root)).save("model_final")
    LazyConfig.save(cfg, str(root / "config.yaml"))
    return root, cfg, model


def test_pictures_exist_with_their_sizes(distilled):
    root, _, _ = distilled
    out = root / "pictures"
    run_tool(
        "visualize.py",
        "--config-file",
        str(root / "config.yaml"),
        "--num-images",
        "2",
        "--scale",
        str(SCALE),
        "--output",
        str(out),
        "--score-thresh",
        "0",
    )
    side = SIZE * SCALE
    expected = {}  # name: (width, height)
    for i in range(2):
        expected[f"detections_{i}.png"] = (2 * side, side)  # teacher | student
        expected[f"distance_{i}.png"] = (5 * side, side)  # p2-p6
        expected[f"fgfi_mask_{i}.png"] = (2 * side, side)  # p3, p4
        for level in ("p2", "p3"):  # DRKD's instance levels
            expected[f"drkd_relation_{i}_{level}.png"] = (800, 400)
    assert sorted(os.listdir(out)) == sorted(expected)
    for name, size in expected.items():
        with Image.open(out / name) as im:
            assert im.size == size, name
            assert im.mode == "RGB" or name.startswith("drkd")


def test_relation_matrices_are_drkds(distilled, digits_batch):
    _, _, model = distilled
    model.eval()
    inputs = capture_distill_inputs(model, digits_batch)
    drkd = model.distillers[0]
    mats = relation_matrices(drkd, inputs, "p2")
    counts = [len(x["instances"]) for x in digits_batch if len(x["instances"])]
    assert [a_s.shape[0] for a_s, _, _ in mats] == counts
    for (a_s, a_t, cls), x in zip(mats, digits_batch):
        n = len(x["instances"])
        assert a_s.shape == a_t.shape == (n, n)
        assert torch.allclose(a_s.sum(1), torch.ones(n), atol=1e-5)
        assert torch.equal(cls, x["instances"].gt_classes)
    # the captured inputs are the batch the model saw: features of the student's own stride
    assert inputs.student_features["p2"].shape[-1] == digits_batch[0]["image"].shape[-1] // 4
    assert not model.training  # the capture restores eval mode


def _vis():
    from .conftest import load_tool

    return load_tool("visualize")


def test_no_detection_above_the_threshold_is_said_with_the_best_score():
    from detectron2.structures import Instances

    vis = _vis()
    inst = Instances((8, 8), scores=torch.tensor([0.12, 0.05]))
    assert vis.detection_note(inst, 0.3) == "nothing >= 0.3 (best score 0.12)"
    assert vis.detection_note(inst, 0.1) is None
    assert vis.detection_note(inst[[]], 0.3) == "nothing >= 0.3 (no detections at all)"


def test_levels_share_one_colour_scale():
    # each level used to be scaled to its own maximum: a 2-cell p6 was always solid
    maps, vmax = _vis().shared_scale([torch.tensor([[1.0, 2.0]]), torch.tensor([[4.0]])])
    assert vmax == 4.0
    assert torch.equal(maps[0], torch.tensor([[0.25, 0.5]])) and torch.equal(
        maps[1], torch.ones(1, 1)
    )


def test_overlay_tints_and_dims_so_that_it_shows_on_red_ink():
    import numpy as np

    vis = _vis()
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    heat = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    out = vis.overlay(red, heat, 1)
    # full heat: half cyan, half red -> (128, 128, 128); none: red dimmed to 40%
    assert out[0, 0].tolist() == [128, 128, 128] and out[0, 1].tolist() == [102, 0, 0]
    # a red overlay on red ink left it unchanged; this one changes it either way
    assert not np.array_equal(out[0, 0], red[0, 0]) and not np.array_equal(out[0, 1], red[0, 1])


def test_labels_keep_the_panel_size_and_are_drawn():
    import numpy as np

    panel = np.full((64, 64, 3), 200, np.uint8)
    out = _vis().label(panel, "p3: max 0.5")
    assert out.shape == panel.shape and (out[:6, :6] == 0).all()  # the dark band
    assert (out[2:12, :60] > 240).any()  # white (anti-aliased) text on it


def test_pictures_go_beside_the_checkpoint_by_default(distilled, tmp_path):
    root, _, _ = distilled
    ckpt = tmp_path / "elsewhere" / "model.pth"
    ckpt.parent.mkdir()
    ckpt.write_bytes((root / "model_final.pth").read_bytes())
    run_tool(
        "visualize.py",
        "--config-file",
        str(root / "config.yaml"),
        "--checkpoint",
        str(ckpt),
        "--num-images",
        "1",
        "--scale",
        "1",
    )
    assert sorted(os.listdir(tmp_path / "elsewhere" / "vis"))[0] == "detections_0.png"
