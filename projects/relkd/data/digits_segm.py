"""The instance masks of ``digits_det`` (the ``digits_det_segm`` variant): each digit's visible
ink, written beside the box files, which they leave untouched (:mod:`.digits_det` renders both).
"""

from __future__ import annotations

import json
import os

import numpy as np

from .digits_det import (
    INK_THRESHOLD,
    DigitsDetSpec,
    _render,
    _source_digits,
    write_json_atomically,
)


def render_image_with_masks(
    rng: np.random.Generator, pool: tuple[np.ndarray, ...], spec: DigitsDetSpec
) -> tuple[np.ndarray, list[dict], np.ndarray]:
    """:func:`render_image` (the same image and annotations, drawing the same random numbers
    from ``rng``) and the digits' visible masks.

    Returns:
        image: ``(S, S, 3)`` uint8 RGB.
        annotations: as :func:`render_image`'s, in paste order.
        masks: ``(N, S, S)`` bool, one per annotation (:func:`visible_masks` of their ink).
    """
    img, anns, inks = _render(rng, pool, spec)
    return img, anns, visible_masks(inks)


def visible_masks(inks: np.ndarray) -> np.ndarray:
    """The visible part of each digit: its ink less the ink of every digit pasted after it.

    A pixel inked by several digits belongs to the last one pasted, the one on top; every pixel
    belongs to at most one digit.

    Args:
        inks: ``(N, S, S)`` bool, digit ``i``'s pasted alpha above :data:`INK_THRESHOLD`, in
            paste order.

    Returns:
        ``(N, S, S)`` bool.
    """
    out = np.zeros_like(inks)
    covered = np.zeros(inks.shape[1:], dtype=bool)
    for i in range(len(inks) - 1, -1, -1):  # from the top of the stack down
        out[i] = inks[i] & ~covered
        covered |= inks[i]
    return out


def generate_segm_split(root: str, split: str, spec: DigitsDetSpec) -> str:
    """Write ``root/segm_<split>.json``, the instance-segmentation variant of the split built in
    ``root`` from ``spec``: its images, and its annotations with a ``segmentation`` each (the
    digit's visible mask, :func:`visible_masks`, as compressed COCO RLE); return its path.

    Each annotation keeps its id, box, category and ``area`` (the box's, ``w * h``, as in
    ``<split>.json``: COCO's size ranges then bin a digit by its box in both variants). A digit
    that later digits cover entirely has an empty mask, nothing for a mask head to learn or an
    evaluation to find: it is left out (about 0.7% of the digits of the default spec). Boxes
    stay those of the whole ink, so a partly covered digit's box contains its mask's extent.

    The split is rendered again (:func:`render_image_with_masks` draws the random numbers
    :func:`render_image` drew) and checked against the PNGs and ``<split>.json`` in ``root``,
    which are only read.

    Raises:
        RuntimeError: a rendered image or its boxes differ from the files in ``root`` (they
            were built by another generator or spec).
    """
    import cv2
    from pycocotools import mask as mask_util

    with open(os.path.join(root, f"{split}.json")) as f:
        coco = json.load(f)
    by_image: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    pool = _source_digits(spec)[split]
    rng = np.random.default_rng([spec.seed, 0 if split == "train" else 1])
    annotations = []
    for image in coco["images"]:
        img, anns, masks = render_image_with_masks(rng, pool, spec)
        on_disk = cv2.imread(os.path.join(root, split, image["file_name"]), cv2.IMREAD_UNCHANGED)
        boxes = by_image.get(image["id"], [])
        same_boxes = [(a["bbox"], a["category_id"]) for a in anns] == [
            (a["bbox"], a["category_id"]) for a in boxes
        ]
        if on_disk is None or not np.array_equal(on_disk, img[:, :, ::-1]) or not same_boxes:
            raise RuntimeError(
                f"digits_det: {split}/{image['file_name']} in {root} is not what {spec} renders; "
                "rebuild the dataset before asking for its masks"
            )
        for a, m in zip(boxes, masks):
            if not m.any():
                continue  # covered entirely by later digits
            rle = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            annotations.append({**a, "segmentation": rle})
    segm = {
        **coco,
        "info": {
            **coco["info"],
            "description": f"digits_det segm_{split}",
            "masks": f"pasted alpha > {INK_THRESHOLD}, less the ink of later digits",
        },
        "annotations": annotations,
    }
    return write_json_atomically(os.path.join(root, f"segm_{split}.json"), segm)
