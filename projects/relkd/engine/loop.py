"""LazyConfig training/evaluation with detectron2's trainers, hooks and checkpointer.

The loop is detectron2's standard one (``SimpleTrainer``/``AMPTrainer``, ``EvalHook``,
``PeriodicCheckpointer``, writers). relkd adds a ``summary.json`` per run: median seconds per
iteration and the final COCO metrics, which the demo and benchmark scripts read.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetFromList
from detectron2.engine import AMPTrainer, SimpleTrainer, create_ddp_model, default_writers, hooks
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm

from ..data.checks import check_boxes
from ..data.samplers import ResumableTrainingSampler
from .console import details
from .hooks import ClipGradNorm, DistillTimesPrinter, NonFiniteSkip, distill_times
from .preflight import teacher_preflight
from .resume import RunState, StopAtIteration, TrainingStopped
from .schedule_check import distiller_schedule

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


def do_train(cfg, resume: bool = False) -> dict:
    """Train ``cfg.model`` as configured; return the summary written to ``summary.json``.

    The checkpointer sees the student and ``distillers.*`` (the teacher is not a submodule).
    ``resume=True`` restores model, optimizer, scheduler and iteration from the last checkpoint
    in ``cfg.train.output_dir``.
    """
    model = instantiate(cfg.model)
    model.to(cfg.train.device)
    details(cfg.train.output_dir).info("Model:\n%s", model)  # log.txt only
    teacher = getattr(model, "teacher", None)
    if teacher is not None:
        # the weights loaded (a bad teacher checkpoint stops the run here, before anything
        # else), eval mode and layout set, once
        teacher.prepare()
        logger.info("Teacher: %s from %s", type(teacher.model).__name__, teacher.weights)
    distiller_schedule(model, int(cfg.train.max_iter))
    preflight_ap = teacher_preflight(cfg, model)  # raises if the teacher looks untrained
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    ddp_args = dict(cfg.train.ddp)
    if next(model.parameters()).device.type == "cpu":
        ddp_args.setdefault("device_ids", None)  # detectron2 would pass [local rank]: GPU only
    model = create_ddp_model(model, **ddp_args)
    # the sampler seed is drawn before anything is loaded, as in a fresh run; a resumed run
    # replaces it with the saved one
    run_state = RunState(comm.shared_random_seed(), model)
    trainer_cls = AMPTrainer if cfg.train.amp.enabled else SimpleTrainer
    trainer = trainer_cls(model, None, optimizer)  # the loader comes once the start is known
    checkpointer = DetectionCheckpointer(
        model, cfg.train.output_dir, trainer=trainer, run_state=run_state
    )
    final_results: dict = {}

    def evaluate():
        final_results.clear()
        final_results.update(do_test(cfg, model))
        return final_results

    main = comm.is_main_process()
    clip = _train_clip(cfg, optimizer)
    stop = cfg.train.get("stop_iter", 0) or 0
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            NonFiniteSkip(),  # before clipping: under AMP its NaNs must reach the scaler's check
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
            DistillTimesPrinter(cfg.train.log_period) if main else None,
            StopAtIteration(stop, checkpointer if main else None) if stop else None,
        ]
    )
    resuming = resume and checkpointer.has_checkpoint()
    if resume and not resuming:
        logger.warning(
            "--resume: no checkpoint to resume in %s; starting at iteration 0 from "
            "train.init_checkpoint=%r",
            cfg.train.output_dir,
            cfg.train.init_checkpoint,
        )
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=resume)
    start_iter = trainer.iter + 1 if resuming else 0
    # started now: creating the iterator draws from the torch RNG, as it did at iteration 0
    trainer.data_loader = _Started(build_train_loader(cfg, run_state.sampler_seed, start_iter))
    if run_state.apply():
        logger.info("Restored the random-number and module states of iteration %d", start_iter)
    try:
        trainer.train(start_iter, cfg.train.max_iter)
    except TrainingStopped as e:
        logger.info("%s; continue with --resume", e)
    summary = summarize(trainer, final_results)
    if preflight_ap is not None:
        summary["teacher_preflight_ap"] = preflight_ap
    if main:
        with open(os.path.join(cfg.train.output_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary


def _train_clip(cfg, optimizer) -> float:
    """``train.clip_grad_norm`` (0: none), which only relkd's loop applies (a hook): refused
    beside an optimizer that clips itself, a warning otherwise."""
    clip = cfg.train.get("clip_grad_norm", 0) or 0
    if not clip:
        return 0
    own = getattr(optimizer, "relkd_clip_grad_norm", None)
    if own is not None:
        raise ValueError(
            f"Gradient clipping is set twice: train.clip_grad_norm={clip} and the optimizer's "
            f"clip_grad_norm={own}; remove train.clip_grad_norm"
        )
    logger.warning(
        "train.clip_grad_norm=%s is applied by relkd's loop only: detectron2's own scripts "
        "ignore it. Set it on the optimizer instead: optimizer = "
        "relkd.engine.optim.guarded(<optimizer node>, clip_grad_norm=%s)",
        clip,
        clip,
    )
    return clip


class _Started:
    """An iterable whose iterator is created, and its first batch fetched, at construction.

    Fetching matters: detectron2's aspect-ratio-grouped loader is a generator that creates
    the underlying ``DataLoader`` iterator (drawing its base seed from the torch RNG) only
    when the first batch is requested.
    """

    def __init__(self, loader):
        self.loader = loader
        it = iter(loader)
        self._iter = itertools.chain([next(it)], it)

    def __iter__(self):
        return self._iter


def build_train_loader(cfg, seed: int, start_iter: int):
    """``cfg.dataloader.train``, with a sampler that starts at ``start_iter``'s first batch.

    For detectron2's ``build_detection_train_loader`` without a sampler of its own (every
    relkd config), the sampler is a :class:`ResumableTrainingSampler` seeded with ``seed``, so
    a resumed run sees the batches the interrupted run would have seen next. Other loaders are
    built as configured (a resumed run then starts a new data order, and says so).
    """
    loader_cfg = copy.deepcopy(cfg.dataloader.train)
    target = loader_cfg.get("_target_")
    name = target if isinstance(target, str) else getattr(target, "__qualname__", "")
    own = name.rsplit(".", 1)[-1] == "build_detection_train_loader"
    if not own or loader_cfg.get("sampler") is not None:
        if start_iter > 0:
            logger.warning("Resuming with a custom train loader: the data order starts anew")
        return instantiate(loader_cfg)
    dataset = instantiate(loader_cfg.dataset)
    if isinstance(dataset, list):  # wrapped, so the config node holds it as an object
        check_boxes(dataset)  # boxes the mapper would drop silently
        dataset = DatasetFromList(dataset, copy=False)
    per_rank = loader_cfg.total_batch_size // comm.get_world_size()
    loader_cfg.dataset = dataset
    loader_cfg.sampler = ResumableTrainingSampler(
        len(dataset), seed=seed, start=start_iter * per_rank
    )
    return instantiate(loader_cfg)


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
    times = distill_times(storage) if "time" in hist else {}
    if times:
        # medians over the run of each part's forward (the teacher's, each distiller's); their
        # backward is in sec_per_iter only
        summary["distill_ms"] = times
        step_ms = summary["sec_per_iter"] * 1e3
        # the step against the step without those forwards: a lower bound of the overhead
        summary["overhead_forward_only"] = step_ms / max(step_ms - sum(times.values()), 1e-9)
    skipped = getattr(getattr(trainer.model, "module", trainer.model), "skipped_iters", None)
    if skipped is not None:  # a distilling model (0 when nothing was skipped)
        summary["skipped_iters"] = skipped
    if torch.cuda.is_available():
        summary["max_cuda_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return summary


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
