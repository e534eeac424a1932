#!/usr/bin/env python
"""Train or evaluate a relkd (or plain detectron2) LazyConfig.

    python train_net.py --config-file configs/digits/retinanet_R18_feature_mse.py
    python train_net.py --config-file CFG --eval-only train.init_checkpoint=PATH
    python train_net.py --config-file CFG --num-gpus 8 train.max_iter=1000   # key=value overrides
    python train_net.py --config-file CFG --resume                            # continue a run

Multi-GPU / multi-machine training goes through detectron2's ``launch`` (PyTorch DDP).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects"))

# Harmless deprecation notices that importing detectron2 raises before any log file exists
# (its torch.jit.script decorators, its config loader's pkg_resources); later warnings go to
# log.txt (relkd.engine.console)
warnings.filterwarnings(
    "ignore", message=r"`torch.jit.script` is deprecated", category=FutureWarning
)
warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated", category=UserWarning)
# torch's notes that a CPU-only machine has no CUDA runtime, and on fx tracing flags
for name in ("torch.utils.cpp_extension", "torch.fx._symbolic_trace"):
    logging.getLogger(name).setLevel(logging.ERROR)

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from detectron2.engine import create_ddp_model, default_argument_parser, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from relkd.data import register_digits_det
from relkd.engine import do_test, do_train
from relkd.engine.console import setup
from relkd.engine.overrides import apply_overrides
from relkd.loading import TeacherLoadError

logger = logging.getLogger("relkd")


def main(args):
    try:
        return _main(args)
    except TeacherLoadError as e:  # the message names the weights; add the config that set them
        raise TeacherLoadError(f"--config-file {args.config_file}: {e}") from None


def _main(args):
    cfg = LazyConfig.load(args.config_file)
    # checked: a typo'd key would otherwise be added and ignored
    cfg = apply_overrides(cfg, args.opts)
    if args.eval_only and not cfg.train.get("init_checkpoint"):
        raise SystemExit(
            "--eval-only needs the weights to evaluate: add train.init_checkpoint=PATH (without "
            "it the model would be evaluated at its random initialisation)"
        )
    setup(cfg, args)  # detectron2's default_setup, its long records in log.txt only
    # relkd's own messages (teacher preflight, resume, skipped iterations) in the console and
    # in log.txt, like detectron2's
    setup_logger(cfg.train.output_dir, distributed_rank=comm.get_rank(), name="relkd")
    logging.getLogger("relkd").setLevel(logging.INFO)
    register_digits_det()
    if args.eval_only:
        model = instantiate(cfg.model)
        model.to(cfg.train.device)
        model = create_ddp_model(model)
        DetectionCheckpointer(model).load(cfg.train.init_checkpoint)
        return do_test(cfg, model)
    summary = do_train(cfg, resume=args.resume)
    if comm.is_main_process():
        logger.info("relkd summary: %s", summary)
    return summary


def cli(argv=None):
    args = default_argument_parser().parse_args(argv)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


if __name__ == "__main__":
    cli()
