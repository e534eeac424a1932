#!/usr/bin/env python
"""Loss magnitudes of a distilled config at the start of training, for calibrating weights.

Runs the freshly initialised student (with its trained teacher) on a few training batches,
without updates, past every warm-up, and prints each detection and (weighted) distillation
term and their sums. The digits configs' weight comments quote its output.

With ``--grads`` it also back-propagates each term alone and prints the norm of its gradient
on the student's parameters (``grad_<term>``; the distillers' own modules excluded), which is
what a weight decides; ``grad_all`` is the norm over every trained parameter of the summed
loss, the value ``train.clip_grad_norm`` compares with its limit.

    python tools/loss_scale.py configs/digits/retinanet_R18_fgfi.py --batches 3
    python tools/loss_scale.py CFG --batches 3 model.distillers.0.loss_weight=0.01
    python tools/loss_scale.py configs/digits/retinanet_R18_drkd.py --batches 3 --grads
"""

from __future__ import annotations

import argparse
import itertools


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("config")
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--grads", action="store_true", help="also each term's gradient norm")
    p.add_argument("opts", nargs="*", help="config overrides key=value")
    args = p.parse_intermixed_args(argv)

    import torch
    from detectron2.config import LazyConfig, instantiate
    from detectron2.utils.env import seed_all_rng
    from detectron2.utils.events import EventStorage

    from relkd.data import register_digits_det
    from relkd.engine.overrides import apply_overrides

    register_digits_det()
    cfg = apply_overrides(LazyConfig.load(args.config), args.opts)
    # numpy too: the train sampler draws its shuffle seed from it, so reruns see the same batches
    seed_all_rng(cfg.train.get("seed", 0))
    model = instantiate(cfg.model).to(cfg.train.device).train()
    prefixes = tuple(f"loss_{d.name}_" for d in getattr(model, "distillers", []))
    rows = []
    with EventStorage(10**9), torch.set_grad_enabled(args.grads):  # past every warm-up
        for batch in itertools.islice(instantiate(cfg.dataloader.train), args.batches):
            terms = model(batch)
            losses = {k: v.item() for k, v in terms.items()}
            det = sum(v for k, v in losses.items() if not k.startswith(prefixes))
            rows.append({"detection": det, "distill": sum(losses.values()) - det, **losses})
            if args.grads:
                rows[-1].update(gradient_norms(model, terms, prefixes))
            print("  ".join(f"{k} {v:.4g}" for k, v in rows[-1].items()), flush=True)
    return rows


def gradient_norms(model, terms: dict, prefixes: tuple = ()) -> dict[str, float]:
    """``grad_<term>``: the norm of one loss term's gradient on the student's parameters;
    ``grad_detection`` / ``grad_distill``: that of the summed detection terms / of the summed
    distillation terms on the student and the distillers' modules, and ``grad_ratio`` the second
    over the first (what ``loss_weight="auto"`` sets to its ``target_ratio``, measured the same
    way: ``relkd.utils.grads``); ``grad_all``: the summed loss's gradient norm over every trained
    parameter. ``prefixes``: distillation key prefixes."""
    from relkd.utils.grads import grad_norm, student_parameters

    student = student_parameters(model)
    trained = [p for p in model.parameters() if p.requires_grad]
    norms = {f"grad_{key}": grad_norm(term, student).item() for key, term in terms.items()}
    distill = [v for k, v in terms.items() if k.startswith(prefixes)] if prefixes else []
    if distill:
        det = grad_norm(sum(v for k, v in terms.items() if not k.startswith(prefixes)), student)
        norms["grad_detection"] = det.item()
        # on the student and the distillers' own modules, as loss_weight="auto" measures it
        norms["grad_distill"] = grad_norm(sum(distill), trained).item()
        norms["grad_ratio"] = norms["grad_distill"] / max(norms["grad_detection"], 1e-12)
    norms["grad_all"] = grad_norm(sum(terms.values()), trained).item()
    return norms


if __name__ == "__main__":
    main()
