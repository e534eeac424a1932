#!/usr/bin/env python
"""Export the student of a distilled checkpoint: weights for the plain detectron2 class and,
optionally, a TorchScript trace.

    python tools/export_student.py output/digits/retinanet_R18_fgfi/model_final.pth student.pth
    python tools/export_student.py CKPT student.pth --trace student.ts   # config: CKPT's dir

The checkpoint keeps the student's keys and drops ``distillers.*``; it loads into the plain
class (``RetinaNet``, ``GeneralizedRCNN``, ``DABDETR``) with no missing or unexpected key, which
``--config-file`` (default: ``config.yaml`` beside CKPT) lets the tool check. ``--trace`` also
traces the student with detectron2's ``TracingAdapter`` on the config's first test image and
checks that the trace gives the eager outputs (eager mode running the batched-NMS algorithm
torchvision uses in traces; ``relkd.utils.export.trace_nms`` says why).
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "projects"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("ckpt", help="a distilled model_final.pth")
    p.add_argument("out", help="the student-only checkpoint to write")
    p.add_argument("--config-file", default="", help="the distilled config (default: beside CKPT)")
    p.add_argument("--trace", default="", help="also write a TorchScript trace here")
    p.add_argument("opts", nargs="*", help="config overrides key=value")
    return p.parse_intermixed_args(argv)


def build_plain(config: str, weights: str, opts=()):
    """The plain student of ``config`` with ``weights`` loaded strictly (eval mode)."""
    from detectron2.config import LazyConfig, instantiate

    from relkd.teacher import load_strict
    from relkd.utils.export import student_config

    cfg = LazyConfig.apply_overrides(LazyConfig.load(config), list(opts))
    model = instantiate(student_config(cfg.model))
    # raises on any missing, unexpected or mis-shaped key
    load_strict(model, weights, what="Student")
    return cfg, model.eval()


def first_test_image(cfg):
    from detectron2.config import instantiate

    from relkd.data import register_digits_det

    register_digits_det()
    return next(iter(instantiate(cfg.dataloader.test)))[0]["image"]


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from relkd.utils.export import (
        export_student,
        max_output_difference,
        trace_nms,
        trace_student,
    )

    counts = export_student(args.ckpt, args.out)
    print(f"[export] {args.out}: {counts['kept']} student tensors ({counts['dropped']} dropped)")
    config = args.config_file or os.path.join(os.path.dirname(args.ckpt), "config.yaml")
    result = {"checkpoint": args.out, **counts}
    if not os.path.isfile(config):
        if args.trace or args.config_file:
            raise FileNotFoundError(f"export_student: no config {config!r}")
        print("[export] no config beside the checkpoint: the plain-class load was not checked")
        return result
    from relkd.teacher import TeacherLoadError

    try:
        cfg, model = build_plain(config, args.out, args.opts)
    except TeacherLoadError as e:
        os.remove(args.out)  # weights that do not load must not be left for a user to deploy
        raise SystemExit(
            f"[export] removed {args.out}: the exported weights do not load into the student of "
            f"{config}: {e}"
        ) from None
    print(f"[export] loads into {type(model).__name__} with no missing or unexpected keys")
    if args.trace:
        image = first_test_image(cfg)
        traced, adapter = trace_student(model, image)
        with torch.no_grad():
            again = adapter.outputs_schema(traced(image))
            plain = model([{"image": image}])
            with trace_nms():  # eager mode with the NMS algorithm torchvision runs in a trace
                eager = model([{"image": image}])
        result["trace_max_diff"] = max_output_difference(eager, again)
        result["plain_eager_diff"] = max_output_difference(plain, again)
        if result["trace_max_diff"] > 1e-4:
            raise RuntimeError(f"the trace differs from eager: {result['trace_max_diff']:.3g}")
        traced.save(args.trace)
        n = len(eager[0]["instances"])
        print(
            f"[export] {args.trace}: trace equals eager ({n} detections, max diff "
            f"{result['trace_max_diff']:.2g}, eager NMS as traced)"
        )
        if result["plain_eager_diff"] > 1e-4:
            print(
                "[export] note: eager mode with its own NMS differs from the trace "
                f"({result['plain_eager_diff']:.3g}): torchvision's traced batched NMS offsets "
                "boxes per class, so boxes at the IoU threshold may be kept differently"
            )
    return result


if __name__ == "__main__":
    main()
