#!/usr/bin/env python
"""Loss magnitudes of a distilled config at the start of training, for calibrating weights.

Runs the freshly initialised student (with its trained teacher) on a few training batches,
without updates, past every warm-up, and prints each detection and (weighted) distillation
term and their sums. The digits configs' weight comments quote its output.

    python tools/loss_scale.py configs/digits/retinanet_R18_fgfi.py --batches 3
    python tools/loss_scale.py CFG --batches 3 model.distillers.0.loss_weight=0.01
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "projects"))


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("config")
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("opts", nargs="*", help="config overrides key=value")
    args = p.parse_intermixed_args(argv)

    import torch
    from detectron2.config import LazyConfig, instantiate
    from detectron2.utils.events import EventStorage

    from relkd.data import register_digits_det

    register_digits_det()
    cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config), args.opts)
    torch.manual_seed(cfg.train.get("seed", 0))
    model = instantiate(cfg.model).to(cfg.train.device).train()
    prefixes = tuple(f"loss_{d.name}_" for d in getattr(model, "distillers", []))
    rows = []
    with EventStorage(10**9), torch.no_grad():  # past every warm-up
        for batch in itertools.islice(instantiate(cfg.dataloader.train), args.batches):
            losses = {k: v.item() for k, v in model(batch).items()}
            det = sum(v for k, v in losses.items() if not k.startswith(prefixes))
            rows.append({"detection": det, "distill": sum(losses.values()) - det, **losses})
            print("  ".join(f"{k} {v:.4g}" for k, v in rows[-1].items()), flush=True)
    return rows


if __name__ == "__main__":
    main()
