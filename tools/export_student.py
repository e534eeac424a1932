#!/usr/bin/env python
"""Export the student of a distilled checkpoint: weights for the plain detectron2 class and,
optionally, a TorchScript trace.

    python tools/export_student.py output/digits/retinanet_R18_fgfi/model_final.pth student.pth
    python tools/export_student.py CKPT student.pth --trace student.ts   # config: CKPT's dir

The checkpoint keeps the student's keys and drops ``distillers.*``; it loads into the plain
class (``RetinaNet``, ``GeneralizedRCNN``, ``DABDETR``) with no missing or unexpected key, which
``--config-file`` (default: ``config.yaml`` beside CKPT; a LazyConfig or a yacs config) lets
the tool check. The student's own config is written beside OUT (``student.pth`` ->
``student.yaml``): for a LazyConfig run its ``model`` (relkd's any-width ResNet stages written
as detectron2 ``ResNet.make_stage`` nodes), ``dataloader.test`` and ``train.init_checkpoint``;
for a yacs run a yaml for ``get_cfg().merge_from_file``, with ``MODEL.WEIGHTS`` set, e.g. for
``DefaultPredictor``. For a LazyConfig RetinaNet, Faster R-CNN or Mask R-CNN (``MASK_ON:
true``, ``DefaultPredictor`` then predicts masks) it also writes that yaml
(``student_predictor.yaml``; ``relkd.export.predictor``), checked on the example image.
Neither needs relkd, except for a DAB-DETR student (relkd's model). ``--trace`` also
traces the student with detectron2's ``TracingAdapter`` on the config's first test image and
checks that the trace gives the eager outputs (eager mode running the batched-NMS algorithm
torchvision uses in traces; ``relkd.export.student.trace_nms`` says why).
"""

from __future__ import annotations

import argparse
import os

from relkd.bench.exporting import NoExampleImage, build_plain, example_image, load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("ckpt", help="a distilled model_final.pth")
    p.add_argument("out", help="the student-only checkpoint to write")
    p.add_argument(
        "--config-file",
        default="",
        help="the distilled config, LazyConfig or yacs (default: config.yaml beside CKPT)",
    )
    p.add_argument("--trace", default="", help="also write a TorchScript trace here")
    p.add_argument(
        "--image",
        default="",
        help="the trace's example input: an image file, read through the config's test mapper "
        "(default: the config's first test image)",
    )
    p.add_argument("opts", nargs="*", help="config overrides key=value")
    return p.parse_intermixed_args(argv)


def predictor_config(cfg, model, weights: str, image) -> dict | None:
    """Write and check the yacs config with which ``DefaultPredictor`` runs the student of a
    LazyConfig run (:func:`relkd.export.predictor.write_predictor_config`); ``None``, with the
    reason printed, for a student that has no yacs form."""
    from relkd.export.predictor import write_predictor_config
    from relkd.export.to_yacs import NotExpressible

    try:
        out = write_predictor_config(cfg, model, weights, image)
    except NotExpressible as e:
        print(f"[export] no DefaultPredictor config (the LazyConfig one is the student's): {e}")
        return None
    wide = out["weights"] != weights
    print(
        f"[export] {out['config']}: yacs config for DefaultPredictor, no relkd needed"
        + (f", weights embedded in a 64-wide ResNet ({out['weights']})" if wide else "")
        + f"; checked on the example image (features within {out['max_diff']:.2g} relative, "
        "same detections from the same features)"
    )
    return out


def student_config_path(out: str) -> str:
    """Where the student's config goes: beside ``out``, ``student.pth`` -> ``student.yaml``."""
    return os.path.splitext(out)[0] + ".yaml"


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch
    from detectron2.config import CfgNode

    from relkd.export.student import (
        export_student,
        max_output_difference,
        trace_nms,
        trace_student,
        write_student_config,
    )

    config = args.config_file or os.path.join(os.path.dirname(args.ckpt), "config.yaml")
    has_config = os.path.isfile(config)
    if not has_config and (args.trace or args.config_file or args.opts):
        raise FileNotFoundError(f"export_student: no config {config!r}")
    if has_config:  # a bad override stops the export before anything is written
        load_config(config, args.opts)
    counts = export_student(args.ckpt, args.out)
    print(f"[export] {args.out}: {counts['kept']} student tensors ({counts['dropped']} dropped)")
    result = {"checkpoint": args.out, **counts}
    if not has_config:
        print("[export] no config beside the checkpoint: the plain-class load was not checked")
        return result
    from relkd.loading import CheckpointLoadError

    try:
        cfg, model = build_plain(config, args.out, args.opts)
    except CheckpointLoadError as e:
        os.remove(args.out)  # weights that do not load must not be left for a user to deploy
        raise SystemExit(
            f"[export] removed {args.out}: the exported weights do not load into the student of "
            f"{config}: {e}"
        ) from None
    print(f"[export] loads into {type(model).__name__} with no missing or unexpected keys")
    result["config"] = student_config_path(args.out)
    loads = write_student_config(cfg, os.path.abspath(args.out), result["config"])
    with open(result["config"]) as f:
        needs = "relkd." in f.read()
    print(
        f"[export] {result['config']}: the student's config"
        + (" (it names relkd classes: relkd must be installed to build it)" if needs else "")
    )
    if loads != result["config"]:
        result["config_pickle"] = loads
        print(
            f"[export] {result['config']} holds an object yaml cannot write back (a lambda in "
            f"the config): LazyConfig.load cannot read it; {loads} can (cloudpickle.load)"
        )
    image = None
    if args.trace or not isinstance(cfg, CfgNode):
        try:
            image = example_image(cfg, args.image)
        except NoExampleImage as e:
            if args.trace:
                raise SystemExit(str(e)) from None
            print(f"{e}; the DefaultPredictor config was not written")
    if image is not None and not isinstance(cfg, CfgNode):
        result["predictor"] = predictor_config(cfg, model, os.path.abspath(args.out), image)
    if args.trace:
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
