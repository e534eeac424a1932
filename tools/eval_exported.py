#!/usr/bin/env python
"""COCO AP and time per image of an exported student, run two ways on the same images: built
from its LazyConfig ``student.yaml`` and by ``DefaultPredictor`` from ``student_predictor.yaml``
(both written by ``tools/export_student.py``).

    python tools/export_student.py output/digits/retinanet_R18_fgfi/model_final.pth /tmp/s.pth
    python tools/eval_exported.py /tmp/s.pth

``DefaultPredictor`` gets each test image as the BGR array it takes; the LazyConfig model gets
it through the config's test mapper (``dataloader.test.mapper``). Times include reading the
image file.
"""

from __future__ import annotations

import argparse
import os
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("student", help="the exported student.pth (its .yaml files beside it)")
    p.add_argument("--dataset", default="digits_det_val", help="a registered test set")
    p.add_argument("--limit", type=int, default=0, help="evaluate the first N images (0: all)")
    return p.parse_args(argv)


def evaluate(predict, data: list[dict], dataset: str) -> dict:
    """``{"AP", "AP50", "ms_per_image"}`` of ``predict(record) -> {"instances": ...}`` over the
    dataset records ``data``."""
    from detectron2.evaluation import COCOEvaluator

    evaluator = COCOEvaluator(dataset, output_dir=None)
    evaluator.reset()
    seconds = 0.0
    for record in data:
        start = time.perf_counter()
        out = predict(record)
        seconds += time.perf_counter() - start
        evaluator.process([{"image_id": record["image_id"]}], [out])
    bbox = evaluator.evaluate()["bbox"]
    return {"AP": bbox["AP"], "AP50": bbox["AP50"], "ms_per_image": 1000 * seconds / len(data)}


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import LazyConfig, get_cfg, instantiate
    from detectron2.data import DatasetCatalog
    from detectron2.data.detection_utils import read_image
    from detectron2.engine import DefaultPredictor

    from relkd.data import register_digits_det

    register_digits_det()
    base = os.path.splitext(args.student)[0]
    lazy_cfg = LazyConfig.load(base + ".yaml")
    model = instantiate(lazy_cfg.model).eval()
    DetectionCheckpointer(model).load(lazy_cfg.train.init_checkpoint)
    yacs_cfg = get_cfg()
    yacs_cfg.merge_from_file(base + "_predictor.yaml")
    predictor = DefaultPredictor(yacs_cfg)
    data = DatasetCatalog.get(args.dataset)[: args.limit or None]

    mapper = instantiate(lazy_cfg.dataloader.test.mapper)

    def lazy(record):
        with torch.no_grad():
            return model([mapper(dict(record))])[0]

    def stock(record):
        return predictor(read_image(record["file_name"], format="BGR"))

    results = {
        "lazyconfig": evaluate(lazy, data, args.dataset),
        "default_predictor": evaluate(stock, data, args.dataset),
    }
    for name, r in results.items():
        print(
            f"[eval_exported] {name}: AP {r['AP']:.2f} AP50 {r['AP50']:.2f} "
            f"{r['ms_per_image']:.1f} ms/image over {len(data)} images"
        )
    return results


if __name__ == "__main__":
    main()
