"""The pictures of ``tools/visualize.py`` as arrays and PNG files: detections, heat maps over
an image, labelled panels, relation matrices, and each distiller's own pictures
(:meth:`relkd.distillers.Distiller.pictures`). Images are ``(H, W, 3)`` uint8 RGB arrays."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch
    from detectron2.structures import Instances

    from relkd.distillers import Distiller

# digits_det draws random ink on random backgrounds, so no single overlay colour stands out on
# all of them (a red one vanished on red ink): the overlay both tints with cyan and dims the
# image where the heat is low, which shows on any colour
OVERLAY = (0, 255, 255)
TINT, DIM = 0.5, 0.6


def rgb(x: dict, input_format: str) -> np.ndarray:
    """The ``(H, W, 3)`` RGB image of a model input ``x`` (its ``image``, ``(3, H, W)`` in
    ``input_format``)."""
    img = x["image"].permute(1, 2, 0).numpy()
    return img[..., ::-1] if input_format == "BGR" else img


def upscale(a: np.ndarray, scale: int) -> np.ndarray:
    """``a (H, W, ...)`` with each pixel repeated into a ``scale x scale`` block."""
    import numpy as np

    return np.kron(a, np.ones((scale, scale) + (1,) * (a.ndim - 2), dtype=a.dtype))


def detection_note(instances: Instances, thresh: float) -> str | None:
    """What a detections panel says when no detection reaches ``thresh`` (``None`` otherwise)."""
    if len(instances) and bool((instances.scores >= thresh).any()):
        return None
    best = f"best score {instances.scores.max():.2f}" if len(instances) else "no detections at all"
    return f"nothing >= {thresh:g} ({best})"


def draw_detections(
    img: np.ndarray,
    instances: Instances,
    gt_boxes: list,
    names: Sequence[str],
    thresh: float,
    scale: int,
    title: str,
) -> np.ndarray:
    """``img`` upscaled by ``scale`` with the GT boxes (input-pixel XYXY) in green and the
    detections of ``instances`` that reach ``thresh``, labelled with class and score, with
    their masks where ``instances`` has ``pred_masks`` (a Mask R-CNN's, ``(N, H, W)`` bool in
    input pixels); ``title`` (with :func:`detection_note`'s note when none reaches it) at the
    top left."""
    from detectron2.utils.visualizer import Visualizer

    keep = instances[instances.scores >= thresh].to("cpu")
    base = draw_boxes(upscale(img, scale), gt_boxes, scale)  # GT first, under the detections
    vis = Visualizer(base, scale=1.0)
    labels = [f"{names[c]} {s:.2f}" for c, s in zip(keep.pred_classes, keep.scores)]
    boxes = keep.pred_boxes.tensor.numpy() * scale
    masks = None
    if keep.has("pred_masks") and len(keep):
        # each input pixel of a mask becomes a scale x scale block, as the image's do
        masks = keep.pred_masks.numpy().repeat(scale, axis=1).repeat(scale, axis=2)
    drawn = vis.overlay_instances(boxes=boxes, labels=labels, masks=masks).get_image()
    note = detection_note(instances, thresh)
    return label(drawn, title if note is None else f"{title}: {note}")


def label(array: np.ndarray, text: str) -> np.ndarray:
    """``array (H, W, 3)`` uint8 with ``text`` written at its top left on a dark band."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    im = Image.fromarray(np.ascontiguousarray(array))
    draw = ImageDraw.Draw(im)
    # Pillow's scalable default font: its fixed bitmap font drops the spaces at small sizes
    font = ImageFont.load_default(size=max(11, im.height // 24))
    x0, y0, x1, y1 = draw.textbbox((3, 2), text, font=font)
    draw.rectangle((0, 0, x1 + 3, y1 + 2), fill=(0, 0, 0))
    draw.text((3, 2), text, fill=(255, 255, 255), font=font)
    return np.asarray(im)


def shared_scale(maps: list[torch.Tensor]) -> tuple[list[torch.Tensor], float]:
    """``maps`` divided by their common maximum, and that maximum (levels stay comparable; a
    coarse level of two cells is no longer solid at its own maximum)."""
    vmax = max(float(m.max()) for m in maps)
    return [m / max(vmax, 1e-12) for m in maps], vmax


def draw_boxes(
    out: np.ndarray, boxes: list | None, scale: int, colour: tuple = (0, 255, 0)
) -> np.ndarray:
    """``out`` (upscaled image, modified) with ``boxes`` (input-pixel XYXY) as 1-pixel frames."""
    for x0, y0, x1, y1 in boxes if boxes is not None else []:
        x0, y0, x1, y1 = (int(round(v * scale)) for v in (x0, y0, x1, y1))
        x1, y1 = min(x1, out.shape[1] - 1), min(y1, out.shape[0] - 1)
        out[y0 : y1 + 1, [x0, x1]] = colour
        out[[y0, y1], x0 : x1 + 1] = colour
    return out


def overlay(
    img: np.ndarray, heat: torch.Tensor, scale: int, boxes: list | None = None
) -> np.ndarray:
    """``img (H, W, 3)`` uint8 with ``heat (h, w)`` in [0, 1] (nearest upscale to the image):
    cyan tint ``TINT * heat``, brightness ``1 - DIM * (1 - heat)``; GT boxes in green.
    Returns ``(H * scale, W * scale, 3)`` uint8."""
    import numpy as np
    import torch.nn.functional as F

    h, w = img.shape[:2]
    heat = F.interpolate(heat[None, None].float(), size=(h, w), mode="nearest")[0, 0].numpy()
    base = upscale(img.astype(np.float32), scale)
    colour = np.broadcast_to(np.array(OVERLAY, dtype=np.float32), base.shape)
    a = upscale(heat, scale)[..., None]
    out = (base * (1 - TINT * a) + colour * TINT * a) * (1 - DIM * (1 - a))
    return draw_boxes(out.round().astype(np.uint8), boxes, scale)


def relation_figure(
    a_s: torch.Tensor,
    a_t: torch.Tensor,
    classes: torch.Tensor,
    names: Sequence[str],
    path: str,
    level: str,
) -> None:
    """Write the student's and the teacher's relation matrices ``(n, n)`` side by side to
    ``path`` (800 x 400 pixels), both axes labelled with the boxes' classes ``(n,)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [names[c] for c in classes.tolist()]
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    for ax, a, who in zip(axes, (a_s, a_t), ("student", "teacher")):
        im = ax.imshow(a.cpu().numpy(), vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"{who} relations, {level}")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("GT class")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.savefig(path)  # fixed size: 800 x 400 pixels
    plt.close(fig)


def save(path: str, array: np.ndarray) -> str:
    """Write ``array (H, W, 3)`` uint8 as a PNG; returns ``path``."""
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


def write_pictures(
    distiller: Distiller,
    pictures: dict[str, torch.Tensor],
    images: list[np.ndarray],
    inputs: list[dict],
    names: Sequence[str],
    scale: int,
    out_dir: str,
) -> list[str]:
    """Draw what ``distiller.pictures`` returned for the batch of ``images`` (their model
    ``inputs``, with ``instances``) into ``out_dir``; returns the paths written.

    - its masks (``"mask/<level>"``): ``<name>_mask_<i>.png`` per image, one panel per level,
      over the image with its GT boxes;
    - its relations (``"relation/<level>/<b>"``): ``<name>_relation_<b>_<level>.png``, the two
      matrices with the GT classes of image ``b`` on their axes.
    """
    import numpy as np

    owner = type(distiller).__name__
    unknown = {key.split("/")[0] for key in pictures} - {"mask", "relation"}
    if unknown:
        raise ValueError(
            f"{owner}.pictures: no drawing for {sorted(unknown)}; the kinds drawn are 'mask' "
            "and 'relation'"
        )
    written = []
    # {level: (B, H_l, W_l)}, drawn side by side over each image
    masks = {key.split("/", 1)[1]: m for key, m in pictures.items() if key.startswith("mask/")}
    if masks:
        for i, (img, x) in enumerate(zip(images, inputs)):
            boxes = x["instances"].gt_boxes.tensor.tolist()
            row = [
                label(overlay(img, m[i], scale, boxes), f"{owner} mask {level}")
                for level, m in masks.items()
            ]
            path = os.path.join(out_dir, f"{distiller.name}_mask_{i}.png")
            written.append(save(path, np.hstack(row)))
    for key, pair in pictures.items():
        if key.startswith("relation/"):
            _, level, b = key.split("/")
            path = os.path.join(out_dir, f"{distiller.name}_relation_{b}_{level}.png")
            classes = inputs[int(b)]["instances"].gt_classes
            relation_figure(pair[0], pair[1], classes, names, path, level)
            written.append(path)
    return written
