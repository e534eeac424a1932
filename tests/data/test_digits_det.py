"""digits_det: determinism, COCO validity, disjoint source digits, idempotent registration."""

import filecmp
import json
import multiprocessing as mp
import os

import numpy as np
import pytest

from relkd.data import DigitsDetSpec, build_digits_det, register_digits_det
from relkd.data.digits_det import _source_digits

SMALL = DigitsDetSpec(num_train=12, num_val=6, seed=3)


def _build(args):
    root, spec = args
    return build_digits_det(root, spec)


def test_deterministic_bytes(tmp_path):
    a = build_digits_det(str(tmp_path / "a"), SMALL)
    b = build_digits_det(str(tmp_path / "b"), SMALL)
    for split in ("train", "val"):
        assert filecmp.cmp(f"{a}/{split}.json", f"{b}/{split}.json", shallow=False)
        names = sorted(os.listdir(f"{a}/{split}"))
        assert len(names) == (12 if split == "train" else 6)
        match, mismatch, errors = filecmp.cmpfiles(
            f"{a}/{split}", f"{b}/{split}", names, shallow=False
        )
        assert not mismatch and not errors
    c = build_digits_det(str(tmp_path / "c"), DigitsDetSpec(num_train=12, num_val=6, seed=4))
    assert not filecmp.cmp(f"{a}/train.json", f"{c}/train.json", shallow=False)


def test_coco_validity(tmp_path):
    from pycocotools.coco import COCO

    root = build_digits_det(str(tmp_path), SMALL)
    for split in ("train", "val"):
        coco = COCO(f"{root}/{split}.json")
        assert sorted(coco.getCatIds()) == list(range(1, 11))
        assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [str(i) for i in range(10)]
        for img_id in coco.getImgIds():
            img = coco.loadImgs(img_id)[0]
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
            assert 1 <= len(anns) <= 10
            assert os.path.isfile(f"{root}/{split}/{img['file_name']}")
            for a in anns:
                x, y, w, h = a["bbox"]
                assert 0 <= x and 0 <= y and x + w <= img["width"] and y + h <= img["height"]
                assert 1 <= w and 6 <= h <= 64  # tight boxes: a "1" can be a few pixels wide
                assert a["area"] == pytest.approx(w * h) and a["iscrowd"] == 0


def test_val_digits_disjoint_from_train():
    pools = _source_digits(DigitsDetSpec())
    train_idx, val_idx = set(pools["train"][2].tolist()), set(pools["val"][2].tolist())
    assert not train_idx & val_idx
    assert len(train_idx | val_idx) == 1797
    assert abs(len(val_idx) - 0.25 * 1797) < 1


def test_full_dataset_sizes_and_object_range():
    from detectron2.data import DatasetCatalog

    register_digits_det()
    train = DatasetCatalog.get("digits_det_train")
    val = DatasetCatalog.get("digits_det_val")
    assert len(train) >= 2000 and len(val) >= 500
    heights = np.array([a["bbox"][3] for d in train for a in d["annotations"]])
    assert heights.min() <= 10 and heights.max() >= 56  # objects span about 8 to 64 px
    assert (heights < 32).mean() > 0.4  # mostly small objects


def test_val_mini_is_the_first_100_val_images_with_their_boxes():
    from detectron2.data import DatasetCatalog

    register_digits_det()
    val, mini = DatasetCatalog.get("digits_det_val"), DatasetCatalog.get("digits_det_val_mini")
    assert len(mini) == 100
    assert [d["file_name"] for d in mini] == [d["file_name"] for d in val[:100]]
    assert [d["annotations"] for d in mini] == [d["annotations"] for d in val[:100]]


def test_register_idempotent_and_conflicts(tmp_path):
    names = register_digits_det()
    expected = ["digits_det_train", "digits_det_val", "digits_det_val_mini"]
    expected += ["digits_det_segm_train", "digits_det_segm_val", "digits_det_segm_val_mini"]
    assert register_digits_det() == names == expected
    with pytest.raises(ValueError, match="already registered"):
        register_digits_det(root=str(tmp_path / "elsewhere"))


def test_concurrent_builders(tmp_path):
    root = str(tmp_path / "shared")
    ctx = mp.get_context("spawn")
    with ctx.Pool(3) as pool:
        roots = pool.map(_build, [(root, SMALL)] * 3)
    assert roots == [root] * 3
    with open(f"{root}/train.json") as f:
        assert len(json.load(f)["images"]) == 12
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".shared-")]  # no leftovers


def test_the_first_build_says_where_and_how_long_once(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="relkd"):
        root = build_digits_det(str(tmp_path / "d"), SMALL)
        build_digits_det(str(tmp_path / "d"), SMALL)  # already there: nothing to say
    lines = [r.getMessage() for r in caplog.records if r.name == "relkd"]
    assert len(lines) == 1 and lines[0].startswith(f"digits_det built in {root} in ")
    assert lines[0].endswith(" s (once)")
