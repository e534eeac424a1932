"""Optimiser, schedule and trainer settings shared by the ``digits_det`` configs (CPU)."""

from detectron2.config import LazyCall as L
from detectron2.model_zoo import get_config

from relkd.engine.optim import guarded
from relkd.engine.schedules import multistep_with_warmup

# x0.1 at 75% and 90% of train.max_iter (follows `train.max_iter=N` overrides), 200-iter warm-up
lr_multiplier = L(multistep_with_warmup)(max_iter="${train.max_iter}", warmup_iters=200)


def train_settings(output_dir: str, max_iter: int):
    train = get_config("common/train.py").train
    train.update(
        output_dir=output_dir,
        max_iter=max_iter,
        eval_period=0,  # evaluate once, after the last iteration
        log_period=20,
        device="cpu",
        seed=0,
    )
    train.checkpointer.update(period=max_iter // 2, max_to_keep=2)
    # distilled configs only: the digits teachers score 37-62 AP on digits_det_val (DAB-DETR's
    # about 4); a teacher that never trained scores 0 (relkd.engine.preflight)
    train.teacher_preflight = dict(enabled=True, num_images=100, min_ap=2.0)
    return train


# Measured on digits_det (600-iteration probes of the R50 RetinaNet teacher, from scratch):
# AdamW 1e-3 with clipping reached total loss 0.82; SGD diverged at lr 0.02 (also with
# clipping it stalled at 1.31) and SGD 0.01 needed 2,000 iterations to reach 0.76.
# from-scratch training at these learning rates has occasional gradient spikes: clipped at 10,
# in the optimizer, so that detectron2's own training scripts clip too (relkd.engine.optim)
optimizer = guarded(get_config("common/optim.py").AdamW, clip_grad_norm=10.0)
optimizer.lr = 1e-3
optimizer.weight_decay = 0.05
# one fused AdamW kernel for every parameter where the installed torch has one (CPU from
# torch 2.4): the same update, to rounding, without a pass per tensor, which a distiller's
# many small parameters make costly on a CPU (BENCHMARKS.md, "How DRKD's overhead came down")
optimizer.fused = "auto"
