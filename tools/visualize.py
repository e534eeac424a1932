#!/usr/bin/env python
"""Pictures of a distilled model on a few validation images, written as PNGs.

    python tools/visualize.py --config-file configs/digits/faster_rcnn_R18_drkd.py
    python tools/visualize.py --config-file CFG --checkpoint PATH --num-images 4 --output DIR

For each image ``i``:
- ``detections_<i>.png``: teacher (left) and student (right) detections above
  ``--score-thresh``, with the GT boxes in green; a panel where nothing passes says so, with
  the best score;
- ``distance_<i>.png``: per backbone output level, the teacher-student mean squared feature
  difference (one cyan heat map per level, left to right, labelled with its level and its
  maximum, on one colour scale shared by the levels of the image);
- ``fgfi_mask_<i>.png`` (configs with FGFI): the imitation mask of each FGFI level over the
  image, labelled with its level, with the GT boxes;
- ``drkd_relation_<i>_<level>.png`` (configs with DRKD): the student's and the teacher's instance
  relation matrices side by side, axes labelled with the GT classes.

The checkpoint (default: ``model_final.pth`` in the config's ``train.output_dir``) holds the
student and its distillers; the teacher comes from the config, as in training. The PNGs go to
``vis/`` beside the checkpoint unless ``--output`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "projects"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config-file", required=True)
    p.add_argument("--checkpoint", default="", help="default: <train.output_dir>/model_final.pth")
    p.add_argument("--num-images", type=int, default=2)
    p.add_argument("--output", default="", help="default: vis/ beside the checkpoint")
    p.add_argument("--scale", type=int, default=4, help="pixels per input pixel in the PNGs")
    p.add_argument("--score-thresh", type=float, default=0.3)
    p.add_argument(
        "--min-boxes", type=int, default=2, help="use images with at least this many GT boxes"
    )
    p.add_argument("opts", nargs="*", help="config overrides key=value")
    return p.parse_intermixed_args(argv)


def load_model(cfg, checkpoint: str):
    """The distilled model of ``cfg`` with the student and distillers of ``checkpoint``."""
    from detectron2.config import instantiate

    from relkd.loading import load_strict

    model = instantiate(cfg.model).to(cfg.train.device)
    load_strict(model, checkpoint, what="Distilled model")
    return model.eval()


def val_inputs(cfg, n: int, min_boxes: int) -> list[dict]:
    """The first ``n`` validation images with ``min_boxes`` or more boxes, with their
    ``instances``."""
    from detectron2.config import instantiate

    mapper = instantiate(cfg.dataloader.test.mapper)
    mapper.is_train = True  # keep the annotations as instances; no augmentation is configured
    dicts = instantiate(cfg.dataloader.test.dataset)
    out = [mapper(d) for d in dicts if len(d.get("annotations", ())) >= max(min_boxes, 1)][:n]
    if len(out) < n:
        raise ValueError(
            f"visualize: only {len(out)} validation images have {min_boxes} or more boxes"
        )
    return out


def rgb(x: dict, input_format: str):
    img = x["image"].permute(1, 2, 0).numpy()
    return img[..., ::-1] if input_format == "BGR" else img


def upscale(a, scale: int):
    import numpy as np

    return np.kron(a, np.ones((scale, scale) + (1,) * (a.ndim - 2), dtype=a.dtype))


def detection_note(instances, thresh: float) -> str | None:
    """What a detections panel says when no detection reaches ``thresh`` (``None`` otherwise)."""
    if len(instances) and bool((instances.scores >= thresh).any()):
        return None
    best = f"best score {instances.scores.max():.2f}" if len(instances) else "no detections at all"
    return f"nothing >= {thresh:g} ({best})"


def draw_detections(img, instances, gt_boxes, names, thresh: float, scale: int, title: str):
    from detectron2.utils.visualizer import Visualizer

    keep = instances[instances.scores >= thresh].to("cpu")
    base = draw_boxes(upscale(img, scale), gt_boxes, scale)  # GT first, under the detections
    vis = Visualizer(base, scale=1.0)
    labels = [f"{names[c]} {s:.2f}" for c, s in zip(keep.pred_classes, keep.scores)]
    boxes = keep.pred_boxes.tensor.numpy() * scale
    drawn = vis.overlay_instances(boxes=boxes, labels=labels).get_image()
    note = detection_note(instances, thresh)
    return label(drawn, title if note is None else f"{title}: {note}")


def label(array, text: str):
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


def shared_scale(maps: list) -> tuple[list, float]:
    """``maps`` divided by their common maximum, and that maximum (levels stay comparable; a
    coarse level of two cells is no longer solid at its own maximum)."""
    vmax = max(float(m.max()) for m in maps)
    return [m / max(vmax, 1e-12) for m in maps], vmax


def draw_boxes(out, boxes, scale: int, colour=(0, 255, 0)):
    """``out`` (upscaled image, modified) with ``boxes`` (input-pixel XYXY) as 1-pixel frames."""
    for x0, y0, x1, y1 in boxes if boxes is not None else []:
        x0, y0, x1, y1 = (int(round(v * scale)) for v in (x0, y0, x1, y1))
        x1, y1 = min(x1, out.shape[1] - 1), min(y1, out.shape[0] - 1)
        out[y0 : y1 + 1, [x0, x1]] = colour
        out[[y0, y1], x0 : x1 + 1] = colour
    return out


# digits_det draws random ink on random backgrounds, so no single overlay colour stands out on
# all of them (a red one vanished on red ink): the overlay both tints with cyan and dims the
# image where the heat is low, which shows on any colour
OVERLAY = (0, 255, 255)
TINT, DIM = 0.5, 0.6


def overlay(img, heat, scale: int, boxes=None):
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


def relation_figure(a_s, a_t, classes, names, path: str, level: str) -> None:
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


def save(path: str, array) -> str:
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


def main(argv=None) -> list[str]:
    args = parse_args(argv)
    import numpy as np
    import torch
    from detectron2.config import LazyConfig
    from detectron2.data import MetadataCatalog
    from toolkit.vis import capture_distill_inputs, feature_distances, relation_matrices

    from relkd.data import register_digits_det
    from relkd.distillers import DRKD, FGFI
    from relkd.engine.overrides import apply_overrides

    register_digits_det()
    cfg = apply_overrides(LazyConfig.load(args.config_file), args.opts)
    ckpt = args.checkpoint or os.path.join(cfg.train.output_dir, "model_final.pth")
    out_dir = args.output or os.path.join(os.path.dirname(os.path.abspath(ckpt)), "vis")
    os.makedirs(out_dir, exist_ok=True)
    model = load_model(cfg, ckpt)
    inputs = val_inputs(cfg, args.num_images, args.min_boxes)
    fmt = getattr(model, "input_format", "BGR")
    dataset = cfg.dataloader.test.dataset.names
    names = MetadataCatalog.get(dataset if isinstance(dataset, str) else dataset[0]).thing_classes
    images = [rgb(x, fmt).astype(np.uint8) for x in inputs]
    written = []
    with torch.no_grad():
        plain = [{"image": x["image"]} for x in inputs]
        teacher_out = model.teacher.frozen_model()(plain)
        student_out = model(plain)
    for i, (img, t, s, x) in enumerate(zip(images, teacher_out, student_out, inputs)):
        gt = x["instances"].gt_boxes.tensor.tolist()
        panels = [
            draw_detections(img, o["instances"], gt, names, args.score_thresh, args.scale, who)
            for o, who in ((t, "teacher"), (s, "student"))
        ]
        written.append(save(os.path.join(out_dir, f"detections_{i}.png"), np.hstack(panels)))

    distances = feature_distances(model, plain)
    levels = [n for n, d in distances.items() if d is not None]
    for i, img in enumerate(images):
        if levels:
            maps, _ = shared_scale([distances[n][i] for n in levels])
            row = [
                label(overlay(img, m, args.scale), f"{n}: max {float(distances[n][i].max()):.3g}")
                for n, m in zip(levels, maps)
            ]
            written.append(save(os.path.join(out_dir, f"distance_{i}.png"), np.hstack(row)))
    skipped = [n for n, d in distances.items() if d is None]
    if skipped:
        print(f"[visualize] no distance map for {skipped}: student and teacher channels differ")

    dist_inputs = capture_distill_inputs(model, inputs) if len(model.distillers) else None
    for d in model.distillers:
        if isinstance(d, FGFI):
            masks = d.masks(dist_inputs)
            for i, (img, x) in enumerate(zip(images, inputs)):
                boxes = x["instances"].gt_boxes.tensor.tolist()
                row = np.hstack(
                    [
                        label(overlay(img, masks[f][i], args.scale, boxes), f"FGFI mask {f}")
                        for f in d.features
                    ]
                )
                written.append(save(os.path.join(out_dir, f"fgfi_mask_{i}.png"), row))
        if isinstance(d, DRKD):
            for level in d.instance_levels:
                for i, (a_s, a_t, cls) in enumerate(relation_matrices(d, dist_inputs, level)):
                    path = os.path.join(out_dir, f"drkd_relation_{i}_{level}.png")
                    relation_figure(a_s, a_t, cls, names, path, level)
                    written.append(path)
    for p in written:
        print(f"[visualize] {p}")
    return written


if __name__ == "__main__":
    main()
