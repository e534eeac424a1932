#!/usr/bin/env python
"""Pictures of a distilled model on a few validation images, written as PNGs.

    python tools/visualize.py --config-file configs/digits/faster_rcnn_R18_drkd.py
    python tools/visualize.py --config-file CFG --checkpoint PATH --num-images 4 --output DIR

For each image ``i``:
- ``detections_<i>.png``: teacher (left) and student (right) detections above
  ``--score-thresh``, with the GT boxes in green and, for a Mask R-CNN, each detection's mask;
  a panel where nothing passes says so, with the best score;
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

from relkd.bench.drawing import (
    draw_detections,
    label,
    overlay,
    rgb,
    save,
    shared_scale,
    write_pictures,
)
from relkd.bench.vis import capture_distill_inputs, feature_distances


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
    if any("segmentation" in a for d in dicts for a in d.get("annotations", ())):
        # masks too (digits_det_segm): a mask head's training forward reads them
        mapper.use_instance_mask, mapper.instance_mask_format = True, "bitmask"
    out = [mapper(d) for d in dicts if len(d.get("annotations", ())) >= max(min_boxes, 1)][:n]
    if len(out) < n:
        raise ValueError(
            f"visualize: only {len(out)} validation images have {min_boxes} or more boxes"
        )
    return out


def main(argv=None) -> list[str]:
    args = parse_args(argv)
    import numpy as np
    import torch
    from detectron2.config import LazyConfig
    from detectron2.data import MetadataCatalog

    from relkd.data import register_digits_det
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
        teacher_out = model.teacher.prepare()(plain)
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

    # each distiller's own pictures (FGFI's masks, DRKD's relations), from the inputs it sees
    dist_inputs = capture_distill_inputs(model, inputs) if len(model.distillers) else None
    for d in model.distillers:
        pictures = d.pictures(dist_inputs)
        written += write_pictures(d, pictures, images, inputs, names, args.scale, out_dir)
    for p in written:
        print(f"[visualize] {p}")
    return written


if __name__ == "__main__":
    main()
