#!/usr/bin/env python
"""Pictures of a distilled model on a few validation images, written as PNGs.

    python tools/visualize.py --config-file configs/digits/faster_rcnn_R18_drkd.py
    python tools/visualize.py --config-file CFG --checkpoint PATH --num-images 4 --output DIR

For each image ``i``:
- ``detections_<i>.png``: teacher (left) and student (right) detections above
  ``--score-thresh``;
- ``distance_<i>.png``: per backbone output level, the teacher-student mean squared feature
  difference (one heat map per level, left to right, each scaled to its own maximum);
- ``fgfi_mask_<i>.png`` (configs with FGFI): the imitation mask of each FGFI level over the
  image, with the GT boxes;
- ``drkd_relation_<i>_<level>.png`` (configs with DRKD): the student's and the teacher's instance
  relation matrices side by side, axes labelled with the GT classes.

The checkpoint (default: ``model_final.pth`` in the config's ``train.output_dir``) holds the
student and its distillers; the teacher comes from the config, as in training.
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
    p.add_argument("--output", default="", help="default: <train.output_dir>/vis")
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

    from relkd.teacher import load_strict

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


def draw_detections(img, instances, names, thresh: float, scale: int, title: str):
    from detectron2.utils.visualizer import Visualizer

    keep = instances[instances.scores >= thresh].to("cpu")
    vis = Visualizer(upscale(img, scale), scale=1.0)
    labels = [f"{names[c]} {s:.2f}" for c, s in zip(keep.pred_classes, keep.scores)]
    boxes = keep.pred_boxes.tensor.numpy() * scale
    vis.overlay_instances(boxes=boxes, labels=labels)
    return vis.draw_text(title, (4, 2), horizontal_alignment="left", color="w").get_image()


def overlay(img, heat, scale: int, boxes=None):
    """``img (H, W, 3)`` uint8 with ``heat (h, w)`` in [0, 1] as a red overlay (nearest upscale
    to the image), GT boxes in green; ``(H * scale, W * scale, 3)``."""
    import numpy as np
    import torch.nn.functional as F

    h, w = img.shape[:2]
    heat = F.interpolate(heat[None, None].float(), size=(h, w), mode="nearest")[0, 0].numpy()
    base = upscale(img.astype(np.float32), scale)
    red = np.zeros_like(base)
    red[..., 0] = 255
    a = upscale(heat, scale)[..., None] * 0.6
    out = (base * (1 - a) + red * a).astype(np.uint8)
    for x0, y0, x1, y1 in (boxes if boxes is not None else []):
        x0, y0, x1, y1 = (int(round(v * scale)) for v in (x0, y0, x1, y1))
        x1, y1 = min(x1, out.shape[1] - 1), min(y1, out.shape[0] - 1)
        out[y0 : y1 + 1, [x0, x1]] = (0, 255, 0)
        out[[y0, y1], x0 : x1 + 1] = (0, 255, 0)
    return out


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

    from relkd.data import register_digits_det
    from relkd.distillers import DRKD, FGFI
    from relkd.utils.vis import capture_distill_inputs, feature_distances, relation_matrices

    register_digits_det()
    cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
    ckpt = args.checkpoint or os.path.join(cfg.train.output_dir, "model_final.pth")
    out_dir = args.output or os.path.join(cfg.train.output_dir, "vis")
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
    for i, (img, t, s) in enumerate(zip(images, teacher_out, student_out)):
        panels = [
            draw_detections(img, o["instances"], names, args.score_thresh, args.scale, who)
            for o, who in ((t, "teacher"), (s, "student"))
        ]
        written.append(save(os.path.join(out_dir, f"detections_{i}.png"), np.hstack(panels)))

    distances = feature_distances(model, plain)
    for i, img in enumerate(images):
        maps = [d[i] / d[i].max().clamp(min=1e-12) for d in distances.values() if d is not None]
        if maps:
            row = np.hstack([overlay(img, m, args.scale) for m in maps])
            written.append(save(os.path.join(out_dir, f"distance_{i}.png"), row))
    skipped = [n for n, d in distances.items() if d is None]
    if skipped:
        print(f"[visualize] no distance map for {skipped}: student and teacher channels differ")

    dist_inputs = capture_distill_inputs(model, inputs) if len(model.distillers) else None
    for d in model.distillers:
        if isinstance(d, FGFI):
            masks = d.masks(dist_inputs)
            for i, (img, x) in enumerate(zip(images, inputs)):
                boxes = x["instances"].gt_boxes.tensor.tolist()
                row = np.hstack([overlay(img, masks[f][i], args.scale, boxes) for f in d.features])
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
