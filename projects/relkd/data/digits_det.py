"""Generate the embedded ``digits_det`` detection dataset.

Real handwritten digits (scikit-learn's bundled 8x8 images, 1,797 of them) are pasted at scales
from about 8 to 64 pixels onto cluttered backgrounds. The result is written as PNG images plus
one COCO-format json per split. Generation is a pure function of ``(seed, sizes)``: the same
arguments give byte-identical files.

The instance-segmentation variant (``segm_<split>.json``, same PNGs) adds each digit's mask:
the pixels where the alpha it was pasted with exceeds :data:`INK_THRESHOLD` (the threshold the
boxes are cut at), less the pixels of every digit pasted after it
(:func:`relkd.data.digits_segm.visible_masks`). It is computed by rendering the split again,
which draws the same random numbers, so the box dataset's files are the same bytes whether or
not masks are ever asked for.

The source digits are split once (by ``seed``) into a train pool and a disjoint val pool, so the
val split never shows a digit image that train uses.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

CLASS_NAMES = [str(i) for i in range(10)]
# a pixel is a digit's ink where the alpha it is pasted with exceeds this: its box is the tight
# box of those pixels, its mask those of them that no later digit's ink covers
INK_THRESHOLD = 0.2


@dataclass(frozen=True)
class DigitsDetSpec:
    """Parameters of one generated copy of the dataset."""

    num_train: int = 2000
    num_val: int = 500
    image_size: int = 128
    min_digits: int = 1
    max_digits: int = 10
    min_obj: int = 8
    max_obj: int = 64
    val_source_fraction: float = 0.25
    seed: int = 0


def _source_digits(spec: DigitsDetSpec) -> dict[str, tuple[np.ndarray, ...]]:
    """Split scikit-learn's digits into disjoint train/val pools.

    Returns:
        ``{"train": (images (N, 8, 8) float in [0, 1], labels (N,), source indices (N,)),
        "val": ...}``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(spec.seed).permutation(len(images))
    n_val = int(round(len(images) * spec.val_source_fraction))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    return {
        "train": (images[train_idx], labels[train_idx], train_idx),
        "val": (images[val_idx], labels[val_idx], val_idx),
    }


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of a 2-D float array (no OpenCV dependency for determinism)."""
    src_h, src_w = img.shape
    ys = (np.arange(h) + 0.5) * src_h / h - 0.5
    xs = (np.arange(w) + 0.5) * src_w / w - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, src_h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, src_w - 1)
    y1, x1 = np.clip(y0 + 1, 0, src_h - 1), np.clip(x0 + 1, 0, src_w - 1)
    wy = np.clip(ys - y0, 0, 1)[:, None]
    wx = np.clip(xs - x0, 0, 1)[None, :]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A cluttered RGB background: colour gradient, noise, random bars, blobs and strokes."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    ang = rng.uniform(0, 2 * np.pi)
    t = (np.cos(ang) * xx + np.sin(ang) * yy + 1.5) / 3.0
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    for _ in range(rng.integers(2, 7)):  # rectangles and bars
        x0, y0 = rng.integers(0, size, 2)
        w, h = rng.integers(2, size // 2, 2)
        img[y0 : y0 + h, x0 : x0 + w] = 0.5 * img[y0 : y0 + h, x0 : x0 + w] + 0.5 * rng.uniform(
            0, 1, 3
        )
    for _ in range(rng.integers(1, 5)):  # soft blobs
        cx, cy = rng.uniform(0, size, 2)
        r = rng.uniform(3, size / 4)
        blob = np.exp(-(((xx * size - cx) ** 2 + (yy * size - cy) ** 2) / (2 * r * r)))
        img = img * (1 - 0.6 * blob[..., None]) + 0.6 * blob[..., None] * rng.uniform(0, 1, 3)
    for _ in range(rng.integers(2, 8)):  # thin strokes that look a bit like digit parts
        x0, y0, x1, y1 = rng.uniform(0, size, 4)
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        px = np.clip(np.linspace(x0, x1, n).astype(int), 0, size - 1)
        py = np.clip(np.linspace(y0, y1, n).astype(int), 0, size - 1)
        img[py, px] = rng.uniform(0, 1, 3)
    img += rng.normal(0, 0.04, img.shape)
    return np.clip(img, 0, 1)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    if len(boxes) == 0:
        return np.zeros(0)
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter)


def render_image(
    rng: np.random.Generator, pool: tuple[np.ndarray, ...], spec: DigitsDetSpec
) -> tuple[np.ndarray, list[dict]]:
    """Render one image.

    Returns:
        image: ``(S, S, 3)`` uint8 RGB.
        annotations: ``[{"bbox": [x, y, w, h], "category_id": int}, ...]`` (XYWH, absolute;
            category ids 1..10 for digits 0..9, COCO style).
    """
    img, anns, _ = _render(rng, pool, spec)
    return img, anns


def _render(
    rng: np.random.Generator, pool: tuple[np.ndarray, ...], spec: DigitsDetSpec
) -> tuple[np.ndarray, list[dict], np.ndarray]:
    """Render one image; see :func:`render_image`. Also returns each placed digit's ink,
    ``(N, S, S)`` bool (its pasted alpha above :data:`INK_THRESHOLD`, before later digits cover
    any of it), which draws no random number."""
    size = spec.image_size
    img = _background(rng, size)
    images, labels = pool[0], pool[1]
    placed: list[np.ndarray] = []
    anns: list[dict] = []
    inks: list[np.ndarray] = []
    want = int(rng.integers(spec.min_digits, spec.max_digits + 1))
    for _ in range(want * 20):  # rejection sampling of non-overlapping positions
        if len(anns) == want:
            break
        # log-uniform object height: many small objects, as in the papers' hard regime
        h = int(round(np.exp(rng.uniform(np.log(spec.min_obj), np.log(spec.max_obj)))))
        w = max(4, int(round(h * rng.uniform(0.6, 1.0))))
        if h >= size or w >= size:
            continue
        x0, y0 = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        k = int(rng.integers(len(images)))
        alpha = np.clip(_resize(images[k], h, w) * 1.3, 0, 1)
        inked = alpha > INK_THRESHOLD
        ys, xs = np.nonzero(inked)
        if len(ys) == 0:
            continue
        box = np.array(
            [x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1], np.float64
        )
        if len(placed) and _iou(box, np.stack(placed)).max() > 0.1:
            continue
        region = img[y0 : y0 + h, x0 : x0 + w]
        # contrasting ink colour: move away from the local background mean
        bg = region.reshape(-1, 3).mean(0)
        ink = np.where(bg > 0.5, rng.uniform(0.0, 0.25, 3), rng.uniform(0.75, 1.0, 3))
        img[y0 : y0 + h, x0 : x0 + w] = region * (1 - alpha[..., None]) + ink * alpha[..., None]
        placed.append(box)
        # this digit's ink on the whole image: the box above is the tight box of exactly these
        # pixels, in pixel-edge coordinates
        inks.append(np.zeros((size, size), dtype=bool))
        inks[-1][y0 : y0 + h, x0 : x0 + w] = inked
        x, y, bw, bh = box[0], box[1], box[2] - box[0], box[3] - box[1]
        anns.append(
            {"bbox": [float(x), float(y), float(bw), float(bh)], "category_id": int(labels[k]) + 1}
        )
    ink_masks = np.stack(inks) if inks else np.zeros((0, size, size), dtype=bool)
    return (img * 255).round().astype(np.uint8), anns, ink_masks


def generate_split(root: str, split: str, spec: DigitsDetSpec) -> str:
    """Write ``root/<split>/*.png`` and ``root/<split>.json``; return the json path."""
    import cv2

    pool = _source_digits(spec)[split]
    num = spec.num_train if split == "train" else spec.num_val
    rng = np.random.default_rng([spec.seed, 0 if split == "train" else 1])
    img_dir = os.path.join(root, split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    for i in range(num):
        img, anns = render_image(rng, pool, spec)
        file_name = f"{i:05d}.png"
        cv2.imwrite(os.path.join(img_dir, file_name), img[:, :, ::-1])  # cv2 writes BGR
        images.append(
            {
                "id": i + 1,
                "file_name": file_name,
                "height": spec.image_size,
                "width": spec.image_size,
            }
        )
        for a in anns:
            w, h = a["bbox"][2], a["bbox"][3]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i + 1, "iscrowd": 0, "area": w * h, **a}
            )
    coco = {
        "info": {"description": f"digits_det {split}", "seed": spec.seed},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASS_NAMES)],
    }
    json_path = os.path.join(root, f"{split}.json")
    with open(json_path, "w") as f:
        json.dump(coco, f)
    return json_path


def write_subset(root: str, split: str, name: str, num_images: int) -> str:
    """Write ``root/<name>.json``: the first ``num_images`` images of ``root/<split>.json`` and
    their annotations (the PNGs stay in ``root/<split>/``); return its path. The file is written
    under a temporary name and renamed, so concurrent writers leave one whole file."""
    with open(os.path.join(root, f"{split}.json")) as f:
        coco = json.load(f)
    images = coco["images"][:num_images]
    ids = {im["id"] for im in images}
    subset = {
        **coco,
        "info": {**coco["info"], "description": f"digits_det {name}"},
        "images": images,
        "annotations": [a for a in coco["annotations"] if a["image_id"] in ids],
    }
    return write_json_atomically(os.path.join(root, f"{name}.json"), subset)


def write_json_atomically(path: str, obj: dict) -> str:
    """Write ``obj`` to ``path`` under a temporary name, then rename it: concurrent writers
    leave one whole file. Returns ``path``."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)
    return path
