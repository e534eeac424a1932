"""``tools/visualize.py`` on a tiny distilled Faster R-CNN (DRKD + FGFI): every picture is
written with its expected size, and the pictures it draws are the distillers' own
(``Distiller.pictures``)."""

from __future__ import annotations

import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig, instantiate
from PIL import Image

from relkd.bench import drawing
from relkd.bench.vis import capture_distill_inputs
from relkd.distillers import FGFI, FeatureMSE

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


def test_the_distillers_pictures(distilled, digits_batch):
    _, _, model = distilled
    model.eval()
    inputs = capture_distill_inputs(model, digits_batch)
    drkd, fgfi = model.distillers
    # DRKD: per instance level and image with a GT box, the student's and the teacher's
    # relations between its boxes
    pictures = drkd.pictures(inputs)
    boxed = [b for b, x in enumerate(digits_batch) if len(x["instances"])]
    assert list(pictures) == [f"relation/{lv}/{b}" for lv in ("p2", "p3") for b in boxed]
    for b in boxed:
        n = len(digits_batch[b]["instances"])
        pair = pictures[f"relation/p2/{b}"]
        assert pair.shape == (2, n, n) and not pair.requires_grad
        assert torch.allclose(pair.sum(2), torch.ones(2, n), atol=1e-5)
    # FGFI: its imitation masks, one per level over the batch
    masks = fgfi.pictures(inputs)
    assert list(masks) == ["mask/p3", "mask/p4"]
    assert torch.equal(masks["mask/p3"], fgfi.masks(inputs)["p3"].float())
    assert masks["mask/p4"].shape == inputs.student_features["p4"][:, 0].shape  # (B, H, W)
    # a distiller with nothing to show draws nothing
    assert FeatureMSE().pictures(inputs) == {}
    # the captured inputs are the batch the model saw: features of the student's own stride
    assert inputs.student_features["p2"].shape[-1] == digits_batch[0]["image"].shape[-1] // 4
    assert not model.training  # the capture restores eval mode


def test_a_picture_of_an_unknown_kind_is_refused_by_name(distilled):
    _, _, model = distilled
    with pytest.raises(ValueError, match=r"DRKD.pictures: no drawing for \['histogram'\]"):
        drawing.write_pictures(
            model.distillers[0], {"histogram/p2": torch.zeros(2)}, [], [], [], 1, ""
        )


def test_no_detection_above_the_threshold_is_said_with_the_best_score():
    from detectron2.structures import Instances

    inst = Instances((8, 8), scores=torch.tensor([0.12, 0.05]))
    assert drawing.detection_note(inst, 0.3) == "nothing >= 0.3 (best score 0.12)"
    assert drawing.detection_note(inst, 0.1) is None
    assert drawing.detection_note(inst[[]], 0.3) == "nothing >= 0.3 (no detections at all)"


def test_levels_share_one_colour_scale():
    # each level used to be scaled to its own maximum: a 2-cell p6 was always solid
    maps, vmax = drawing.shared_scale([torch.tensor([[1.0, 2.0]]), torch.tensor([[4.0]])])
    assert vmax == 4.0
    assert torch.equal(maps[0], torch.tensor([[0.25, 0.5]])) and torch.equal(
        maps[1], torch.ones(1, 1)
    )


def test_overlay_tints_and_dims_so_that_it_shows_on_red_ink():
    import numpy as np

    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    heat = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    out = drawing.overlay(red, heat, 1)
    # full heat: half cyan, half red -> (128, 128, 128); none: red dimmed to 40%
    assert out[0, 0].tolist() == [128, 128, 128] and out[0, 1].tolist() == [102, 0, 0]
    # a red overlay on red ink left it unchanged; this one changes it either way
    assert not np.array_equal(out[0, 0], red[0, 0]) and not np.array_equal(out[0, 1], red[0, 1])


def test_labels_keep_the_panel_size_and_are_drawn():
    import numpy as np

    panel = np.full((64, 64, 3), 200, np.uint8)
    out = drawing.label(panel, "p3: max 0.5")
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


def test_masks_are_drawn_where_the_detections_have_them():
    import numpy as np
    from detectron2.structures import Boxes, Instances

    img = np.full((16, 16, 3), 128, np.uint8)
    inst = Instances((16, 16), scores=torch.tensor([0.9]), pred_classes=torch.tensor([3]))
    inst.pred_boxes = Boxes(torch.tensor([[2.0, 2.0, 14.0, 14.0]]))
    boxes_only = drawing.draw_detections(img, inst, [], list("0123456789"), 0.5, 4, "student")
    inst.pred_masks = torch.zeros(1, 16, 16, dtype=torch.bool)
    inst.pred_masks[0, 6:11, 6:11] = True
    masked = drawing.draw_detections(img, inst, [], list("0123456789"), 0.5, 4, "student")
    assert masked.shape == boxes_only.shape == (64, 64, 3)
    # the mask (input pixels 6-10, so 24-43 at scale 4) is filled; outside the box (8-56),
    # nothing changes (the two calls may give the box another colour)
    assert (masked[30:38, 30:38] != boxes_only[30:38, 30:38]).any(axis=-1).all()
    assert np.array_equal(masked[60:, 60:], boxes_only[60:, 60:])


def test_a_mask_rcnn_s_pictures_show_teacher_and_student_masks(teacher_ckpt, tmp_path):
    from .conftest import load_tool

    cfg = load_cfg(
        "digits/mask_rcnn_R18_fgfi.py",
        f"model.teacher.weights={teacher_ckpt['mask_rcnn']}",
        f"train.output_dir={tmp_path}",
        NO_PREFLIGHT,
    )
    torch.manual_seed(0)
    DetectionCheckpointer(instantiate(cfg.model), save_dir=str(tmp_path)).save("model_final")
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))
    tool = load_tool("visualize")
    drawn = []

    def record(img, instances, *args):
        drawn.append((args[-1], instances.has("pred_masks"), instances.image_size))
        return draw(img, instances, *args)

    draw, tool.draw_detections = tool.draw_detections, record
    config = str(tmp_path / "config.yaml")
    tool.main(["--config-file", config, "--num-images", "1", "--score-thresh", "0"])
    assert drawn[-2:] == [("teacher", True, (SIZE, SIZE)), ("student", True, (SIZE, SIZE))]
    with Image.open(tmp_path / "vis" / "detections_0.png") as im:
        assert im.size == (2 * SIZE * 4, SIZE * 4)  # teacher | student at the default scale 4
