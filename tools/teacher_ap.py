#!/usr/bin/env python
"""The box AP of a distilled config's teacher, as training will run it: the teacher preflight
(relkd.engine.preflight) over the first N validation images, in the teacher's ``dtype``.

    python tools/teacher_ap.py configs/digits/retinanet_R18_fgfi.py --images 1000 \\
        model.teacher.weights=output/digits/retinanet_R50_teacher/model_final.pth \\
        model.teacher.dtype=bf16

Prints one line, ``teacher AP <ap> (<dtype>, <n> images)``, and nothing is trained.
"""

from __future__ import annotations

import argparse


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("config", help="a distilled LazyConfig (its model has a teacher)")
    p.add_argument("--images", type=int, default=100, help="first N validation images")
    p.add_argument("opts", nargs="*", help="config overrides key=value")
    args = p.parse_intermixed_args(argv)

    from detectron2.config import LazyConfig, instantiate

    import relkd  # noqa: F401  (registers digits_det)
    from relkd.engine.overrides import apply_overrides
    from relkd.engine.preflight import teacher_preflight

    cfg = apply_overrides(LazyConfig.load(args.config), args.opts)
    if "teacher" not in cfg.model:
        raise SystemExit(f"teacher_ap: {args.config} has no model.teacher; give a distilled config")
    cfg.train.teacher_preflight = {"enabled": True, "num_images": args.images, "min_ap": 0.0}
    model = instantiate(cfg.model)
    model.to(cfg.train.get("device", "cpu"))
    ap = teacher_preflight(cfg, model)
    precision = model.teacher.dtype or "fp32"
    print(f"teacher AP {ap:.2f} ({precision}, {args.images} images)", flush=True)
    return ap


if __name__ == "__main__":
    main()
