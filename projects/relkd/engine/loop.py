"""LazyConfig training/evaluation with detectron2's trainers, hooks and checkpointer.

The loop is detectron2's standard one (``SimpleTrainer``/``AMPTrainer``, ``EvalHook``,
``PeriodicCheckpointer``, writers). relkd adds a ``summary.json`` per run: median seconds per
iteration and the final COCO metrics, which the demo and benchmark scripts read.
"""

from __future__ import annotations

import json
import logging
import os

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.engine import AMPTrainer, SimpleTrainer, create_ddp_model, default_writers, hooks
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm

from .hooks import ClipGradNorm

logger = logging.getLogger("relkd")


def do_test(cfg, model) -> dict:
    """Evaluate ``model`` on ``cfg.dataloader.test`` with ``cfg.dataloader.evaluator``."""
    if cfg.dataloader.get("evaluator") is None:
        return {}
    loader = instantiate(cfg.dataloader.test)  # builds the dataset files if needed
    results = inference_on_dataset(model, loader, instantiate(cfg.dataloader.evaluator))
    if comm.is_main_process():
        print_csv_format(results)
    return results


def _student(model):
    return model.module if hasattr(model, "module") else model


def do_train(cfg, resume: bool = False) -> dict:
    """Train ``cfg.model`` as configured; return the summary written to ``summary.json``.

    The checkpointer sees the student and ``distillers.*`` (the teacher is not a submodule).
    ``resume=True`` restores model, optimizer, scheduler and iteration from the last checkpoint
    in ``cfg.train.output_dir``.
    """
    model = instantiate(cfg.model)
    model.to(cfg.train.device)
    logger.info("Model:\n%s", model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    train_loader = instantiate(cfg.dataloader.train)
    model = create_ddp_model(model, **cfg.train.ddp)
    trainer_cls = AMPTrainer if cfg.train.amp.enabled else SimpleTrainer
    trainer = trainer_cls(model, train_loader, optimizer)
    checkpointer = DetectionCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    final_results: dict = {}

    def evaluate():
        final_results.clear()
        final_results.update(do_test(cfg, model))
        return final_results

    main = comm.is_main_process()
    clip = cfg.train.get("clip_grad_norm", 0) or 0
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            ClipGradNorm(clip) if clip > 0 else None,
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer) if main else None,
            hooks.EvalHook(cfg.train.eval_period, evaluate),
            (
                hooks.PeriodicWriter(
                    default_writers(cfg.train.output_dir, cfg.train.max_iter),
                    period=cfg.train.log_period,
                )
                if main
                else None
            ),
        ]
    )
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=resume)
    start_iter = trainer.iter + 1 if resume and checkpointer.has_checkpoint() else 0
    trainer.train(start_iter, cfg.train.max_iter)
    summary = summarize(trainer, final_results)
    if main:
        with open(os.path.join(cfg.train.output_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary


def summarize(trainer, results: dict) -> dict:
    """Median seconds/iteration (``None`` for runs shorter than ``IterationTimer``'s 3 warm-up
    iterations), the last losses and the final metrics."""
    storage = trainer.storage
    hist = storage.histories()
    summary = {
        "iterations": trainer.iter,  # == max_iter after a completed run
        "sec_per_iter": hist["time"].median(len(hist["time"].values())) if "time" in hist else None,
        "last_losses": {k: v.latest() for k, v in hist.items() if k.startswith("loss_")},
        "results": results,
        "peak_rss_mb": _peak_rss_mb(),
    }
    if torch.cuda.is_available():
        summary["max_cuda_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return summary


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
