"""digits_det's instance-segmentation variant: masks inside their boxes, the boxes' relation to
the masks' extents, occlusion, determinism, COCO evaluation of boxes and masks, and box files
that stay the same bytes whether or not masks are asked for."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from relkd.data import (
    DigitsDetSpec,
    build_digits_det,
    build_digits_det_segm,
    register_digits_det,
    render_image,
    render_image_with_masks,
)
from relkd.data.digits_det import _render, _source_digits
from relkd.data.digits_segm import visible_masks

SMALL = DigitsDetSpec(num_train=12, num_val=6, seed=3)

# What the generator wrote for SMALL before it computed masks (the code of the commit that
# added them, with the mask code taken out): sha1 of each json file and of its split's decoded
# pixels (the PNGs' pixels in file-name order; a PNG's bytes also depend on the encoder).
BOX_JSON_SHA1 = {
    "train": "5cf4f8a830ba6c7859717fde34eef11fceb57c0f",
    "val": "e623f89c34f3b4cd2c2a7bdde47c5e325f9c84a3",
}
PIXELS_SHA1 = {
    "train": "0de80f7c36c1639bff40dd255ebc68f737b17db3",
    "val": "d2a456ef9cffa51532e805a50db96eb6f1037a15",
}
# the same for the default spec (the registered digits_det_train / digits_det_val)
DEFAULT_JSON_SHA1 = {
    "train": "20701b46c930da5b55f7d3a58f0e75c44d70e557",
    "val": "ec23ee96888682ab9cab928b45dc6b486c12cfb9",
}


def _sha1(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def _pixels_sha1(folder: str) -> str:
    import cv2

    h = hashlib.sha1()
    for name in sorted(os.listdir(folder)):
        h.update(cv2.imread(os.path.join(folder, name), cv2.IMREAD_UNCHANGED).tobytes())
    return h.hexdigest()


def _box_files(root: str) -> dict[str, str]:
    """sha1 of every file of the box dataset (json files and PNGs)."""
    out = {name: _sha1(os.path.join(root, name)) for name in ("train.json", "val.json")}
    out["val_mini.json"] = _sha1(os.path.join(root, "val_mini.json"))
    for split in ("train", "val"):
        for name in sorted(os.listdir(os.path.join(root, split))):
            out[f"{split}/{name}"] = _sha1(os.path.join(root, split, name))
    return out


def _decode(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_util

    return mask_util.decode({**rle, "counts": rle["counts"].encode("ascii")}).astype(bool)


@pytest.fixture(scope="module")
def segm_root(tmp_path_factory) -> str:
    return build_digits_det_segm(str(tmp_path_factory.mktemp("segm")), SMALL)


def _rendered(split: str, spec: DigitsDetSpec = SMALL):
    """Each image of ``split`` rendered again: ``(annotations, inks (N, S, S))``."""
    pool = _source_digits(spec)[split]
    rng = np.random.default_rng([spec.seed, 0 if split == "train" else 1])
    num = spec.num_train if split == "train" else spec.num_val
    return [_render(rng, pool, spec)[1:] for _ in range(num)]


def test_box_files_are_those_of_the_generator_without_masks(segm_root, tmp_path):
    # the box dataset as the generator wrote it before it computed masks
    for split in ("train", "val"):
        assert _sha1(os.path.join(segm_root, f"{split}.json")) == BOX_JSON_SHA1[split]
        assert _pixels_sha1(os.path.join(segm_root, split)) == PIXELS_SHA1[split]
    # and the same bytes as a copy whose masks were never asked for
    plain = build_digits_det(str(tmp_path / "plain"), SMALL)
    assert _box_files(plain) == _box_files(segm_root)
    assert not [n for n in os.listdir(plain) if n.startswith("segm_")]


def test_asking_for_masks_leaves_the_box_files_alone(tmp_path):
    root = build_digits_det(str(tmp_path / "d"), SMALL)
    before = _box_files(root)
    build_digits_det_segm(root, SMALL)
    assert _box_files(root) == before
    assert sorted(n for n in os.listdir(root) if n.startswith("segm_")) == [
        "segm_train.json",
        "segm_val.json",
        "segm_val_mini.json",
    ]


def test_the_registered_box_files_are_those_of_the_generator_without_masks():
    from detectron2.data import DatasetCatalog, MetadataCatalog

    register_digits_det()
    DatasetCatalog.get("digits_det_segm_val_mini")  # builds both variants
    for split in ("train", "val"):
        path = MetadataCatalog.get(f"digits_det_{split}").json_file
        assert _sha1(path) == DEFAULT_JSON_SHA1[split]


def test_rendering_with_masks_draws_the_same_image_and_random_numbers():
    pool = _source_digits(SMALL)["train"]
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(4):
        img, anns = render_image(a, pool, SMALL)
        img_m, anns_m, masks = render_image_with_masks(b, pool, SMALL)
        assert np.array_equal(img, img_m) and anns == anns_m
        assert masks.shape == (len(anns), SMALL.image_size, SMALL.image_size)
        assert masks.dtype == bool
    assert a.integers(1 << 30) == b.integers(1 << 30)  # the streams stayed in step


def test_masks_are_inside_their_boxes_and_not_empty(segm_root):
    for split in ("train", "val"):
        with open(os.path.join(segm_root, f"segm_{split}.json")) as f:
            coco = json.load(f)
        assert coco["annotations"]
        for a in coco["annotations"]:
            m = _decode(a["segmentation"])
            assert m.shape == (SMALL.image_size, SMALL.image_size)
            x, y, w, h = (int(v) for v in a["bbox"])
            assert m.sum() > 0
            assert m[y : y + h, x : x + w].sum() == m.sum()  # no pixel outside the box
            assert a["area"] == w * h and a["iscrowd"] == 0


def test_box_is_the_tight_box_of_the_ink_and_contains_the_visible_extent(segm_root):
    """The box is the tight pixel-edge box ``[min col, min row, max col + 1, max row + 1]`` of
    the digit's ink (pasted alpha above ``INK_THRESHOLD``) before later digits are pasted; the mask
    is that ink less later digits' ink. So the mask's extent lies inside the box, and equals it
    when no later digit covers any of the ink."""
    from pycocotools import mask as mask_util

    equal = smaller = 0
    for split in ("train", "val"):
        with open(os.path.join(segm_root, f"segm_{split}.json")) as f:
            coco = json.load(f)
        by_id = {a["id"]: a for a in coco["annotations"]}
        with open(os.path.join(segm_root, f"{split}.json")) as f:
            box_anns = json.load(f)["annotations"]
        rendered = _rendered(split)
        k = 0
        for anns, inks in rendered:
            for i, (a, ink) in enumerate(zip(anns, inks)):
                box_ann = box_anns[k]
                k += 1
                ys, xs = np.nonzero(ink)
                x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                assert box_ann["bbox"] == a["bbox"] == [x0, y0, x1 - x0, y1 - y0]
                covered = ink & inks[i + 1 :].any(0)  # no later digit: all False
                if not (ink & ~covered).any():
                    assert box_ann["id"] not in by_id  # covered entirely: left out
                    continue
                rle = by_id[box_ann["id"]]["segmentation"]
                assert np.array_equal(_decode(rle), ink & ~covered)
                mx, my, mw, mh = mask_util.toBbox({**rle, "counts": rle["counts"].encode()})
                assert x0 <= mx and y0 <= my and mx + mw <= x1 and my + mh <= y1
                if not covered.any():
                    assert [mx, my, mw, mh] == box_ann["bbox"]
                    equal += 1
                else:
                    smaller += 1
        assert k == len(box_anns)
    assert equal > 0 and smaller > 0  # both cases occur in SMALL


def test_an_occluded_digit_keeps_only_what_the_later_one_leaves_visible():
    # the first image of the default val split with a digit pasted over part of another
    spec = DigitsDetSpec()
    pool = _source_digits(spec)["val"]
    rng = np.random.default_rng([spec.seed, 1])
    for _ in range(100):
        img, anns, inks = _render(rng, pool, spec)
        masks = visible_masks(inks)
        pairs = [
            (i, j)
            for i in range(len(inks))
            for j in range(i + 1, len(inks))
            if (inks[i] & inks[j]).any()
        ]
        if pairs:
            break
    else:
        pytest.fail("no occlusion in 100 images")
    i, j = pairs[0]
    overlap = inks[i] & inks[j]
    assert overlap.any() and not (masks[i] & inks[j]).any()  # the later digit's pixels excluded
    assert np.array_equal(masks[i], inks[i] & ~inks[i + 1 :].any(0))
    # the overlap belongs to the digit on top of it: j, or one pasted later still
    assert masks[j:][:, overlap].sum(0).tolist() == [1] * int(overlap.sum())
    # every pixel belongs to at most one digit, and every inked pixel to one
    assert masks.sum(0).max() <= 1
    assert np.array_equal(masks.any(0), inks.any(0))


def test_visible_masks_on_a_stack():
    inks = np.zeros((3, 4, 4), dtype=bool)
    inks[0, :2, :2] = True  # bottom
    inks[1, 1:3, 1:3] = True
    inks[2, 1, 1] = True  # top
    masks = visible_masks(inks)
    assert masks[2].sum() == 1 and masks[2][1, 1]
    assert masks[1].sum() == 3 and not masks[1][1, 1]
    assert masks[0].sum() == 3 and not masks[0][1, 1]


def test_segm_files_are_deterministic(segm_root, tmp_path):
    other = build_digits_det_segm(str(tmp_path / "again"), SMALL)
    for name in ("segm_train.json", "segm_val.json", "segm_val_mini.json"):
        assert _sha1(os.path.join(segm_root, name)) == _sha1(os.path.join(other, name))


def _build_segm(args):
    root, spec = args
    return build_digits_det_segm(root, spec)


def test_concurrent_segm_builders(segm_root, tmp_path):
    import multiprocessing as mp

    root = str(tmp_path / "shared")
    with mp.get_context("spawn").Pool(3) as pool:
        roots = pool.map(_build_segm, [(root, SMALL)] * 3)
    assert roots == [root] * 3
    for name in ("segm_train.json", "segm_val.json", "segm_val_mini.json"):
        assert _sha1(os.path.join(root, name)) == _sha1(os.path.join(segm_root, name))
    assert not [n for n in os.listdir(root) if n.endswith(".tmp")]  # no leftovers


def test_masks_of_files_another_generator_wrote_are_refused(segm_root, tmp_path):
    import cv2

    root = str(tmp_path / "changed")
    shutil.copytree(segm_root, root)
    os.remove(os.path.join(root, "segm_val.json"))
    png = os.path.join(root, "val", "00002.png")
    img = cv2.imread(png, cv2.IMREAD_UNCHANGED)
    img[0, 0] ^= 1
    cv2.imwrite(png, img)
    with pytest.raises(RuntimeError, match="val/00002.png .* is not what"):
        build_digits_det_segm(root, SMALL)


def test_registered_variant_has_the_same_images_with_masks():
    from detectron2.data import DatasetCatalog, MetadataCatalog

    names = register_digits_det()
    assert {"digits_det_segm_train", "digits_det_segm_val", "digits_det_segm_val_mini"} <= set(
        names
    )
    boxes, segm = DatasetCatalog.get("digits_det_val"), DatasetCatalog.get("digits_det_segm_val")
    assert [d["file_name"] for d in segm] == [d["file_name"] for d in boxes]
    kept = sum(len(d["annotations"]) for d in segm)
    total = sum(len(d["annotations"]) for d in boxes)
    assert 0.98 * total < kept <= total  # the digits covered entirely are left out
    assert all("segmentation" in a for d in segm for a in d["annotations"])
    mini = DatasetCatalog.get("digits_det_segm_val_mini")
    assert [d["annotations"] for d in mini] == [d["annotations"] for d in segm[:100]]
    meta = MetadataCatalog.get("digits_det_segm_val")
    assert meta.evaluator_type == "coco" and meta.json_file.endswith("segm_val.json")


def test_the_variant_evaluates_boxes_and_masks():
    """The ground truth as predictions scores 100 box and mask AP with COCOEvaluator."""
    import torch
    from detectron2.data import DatasetCatalog
    from detectron2.evaluation import COCOEvaluator
    from detectron2.structures import BitMasks, Boxes, BoxMode, Instances

    register_digits_det()
    evaluator = COCOEvaluator("digits_det_segm_val_mini", tasks=("bbox", "segm"))
    evaluator.reset()
    for d in DatasetCatalog.get("digits_det_segm_val_mini"):
        anns = d["annotations"]
        inst = Instances((d["height"], d["width"]))
        boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns]
        inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.scores = torch.ones(len(anns))
        inst.pred_classes = torch.tensor([a["category_id"] for a in anns])
        masks = [_decode(a["segmentation"]) for a in anns]
        inst.pred_masks = BitMasks(torch.from_numpy(np.stack(masks))).tensor
        evaluator.process([{"image_id": d["image_id"]}], [{"instances": inst}])
    results = evaluator.evaluate()
    assert results["bbox"]["AP"] == pytest.approx(100.0)
    assert results["segm"]["AP"] == pytest.approx(100.0)
