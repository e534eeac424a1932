"""Two CPU processes (gloo) through detectron2's ``launch`` train a composed distilled config."""

import os

import torch
from detectron2.config import instantiate
from detectron2.engine import launch

from ..conftest import NO_PREFLIGHT, load_cfg


def _worker(teacher: str, out: str) -> None:
    """Runs in each process: relkd's do_train, with a dump of this rank's state at the end."""
    from detectron2.utils import comm
    from torch.nn.parallel import DistributedDataParallel

    import relkd.engine.loop as loop

    summarize = loop.summarize

    def dump(trainer, results):
        ddp = trainer.model
        inner = ddp.module
        names = {id(p) for p in ddp.parameters()}
        torch.save(
            {
                "wrapped": isinstance(ddp, DistributedDataParallel),
                "find_unused": ddp.find_unused_parameters,
                "teacher_in_ddp": any(id(p) in names for p in inner.teacher.model.parameters()),
                "teacher_has_grad": any(
                    p.grad is not None for p in inner.teacher.model.parameters()
                ),
                "no_grad": [
                    n for n, p in inner.named_parameters() if p.requires_grad and p.grad is None
                ],
                "state": {k: v.detach().clone() for k, v in inner.state_dict().items()},
                "iter": trainer.iter,
            },
            os.path.join(out, f"rank{comm.get_rank()}.pt"),
        )
        return summarize(trainer, results)

    loop.summarize = dump
    cfg = load_cfg(
        "digits/retinanet_R18_drkd_hgd.py",
        f"model.teacher.weights={teacher}",
        f"train.output_dir={out}",
        "train.max_iter=4",
        "train.checkpointer.period=100",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
        "dataloader.evaluator=null",
        NO_PREFLIGHT,
    )
    loop.do_train(cfg)


def test_two_process_gloo_training_keeps_ranks_in_step(teacher_ckpt, tmp_path):
    out = str(tmp_path)
    launch(_worker, 2, dist_url="auto", args=(teacher_ckpt["retinanet"], out))
    r0 = torch.load(os.path.join(out, "rank0.pt"), weights_only=False)
    r1 = torch.load(os.path.join(out, "rank1.pt"), weights_only=False)
    for r in (r0, r1):
        assert r["wrapped"] and not r["find_unused"] and r["iter"] == 4
        assert not r["teacher_in_ddp"] and not r["teacher_has_grad"]
        # every trainable parameter got a gradient: DDP (find_unused_parameters=False) would
        # otherwise have failed at the next step
        assert r["no_grad"] == []
    trained = [k for k in r0["state"] if k.startswith(("backbone", "head", "distillers"))]
    assert any(k.startswith("distillers.0.") for k in trained)
    assert any(k.startswith("distillers.1.adapters") for k in trained)
    for k in trained:
        if "running" in k or "num_batches" in k:
            continue  # BN statistics are per rank (broadcast_buffers=False), as in detectron2
        # bitwise: both ranks apply the same all-reduced gradient with the same optimizer
        assert torch.equal(r0["state"][k], r1["state"][k]), k
    # HGD-R's running stage averages are all-reduced, so both ranks hold the same ones
    assert torch.equal(r0["state"]["distillers.1.running"], r1["state"]["distillers.1.running"])
    assert os.path.isfile(os.path.join(out, "model_final.pth"))


def _skip_worker(teacher: str, out: str) -> None:
    """Runs in each process: detectron2's stock loop, a non-finite distillation term on rank 1
    only at iteration 1."""
    from detectron2.utils import comm

    from .test_stock_loop import _poison_at, distilled_cfg, stock_train

    cfg = distilled_cfg(teacher, "model.nonfinite=skip")
    cfg.train.ddp.device_ids = None  # detectron2 passes [local rank], which is for GPUs only
    model = instantiate(cfg.model)
    if comm.get_rank() == 1:
        _poison_at(model, 1)
    trainer, record = stock_train(cfg, model=model)
    torch.save(
        {
            "weights": record.weights,
            "skipped_steps": trainer.optimizer.skipped_steps,
            "skipped_iters": model.skipped_iters,
        },
        os.path.join(out, f"skip{comm.get_rank()}.pt"),
    )


def test_a_skip_on_one_rank_is_a_skip_on_every_rank(tmp_path):
    # the model's forward used to all-reduce a skip flag; now the NaN gradient of the skipping
    # rank reaches the others through DDP's gradient all-reduce
    from .test_stock_loop import save_random_teacher

    teacher = save_random_teacher(tmp_path)
    launch(_skip_worker, 2, dist_url="auto", args=(teacher, str(tmp_path)))
    r0, r1 = (torch.load(tmp_path / f"skip{r}.pt", weights_only=False) for r in (0, 1))
    assert (r0["skipped_iters"], r1["skipped_iters"]) == (0, 1)  # only rank 1 saw the NaN
    assert r0["skipped_steps"] == r1["skipped_steps"] == 1  # both optimizers left it out
    for r in (r0, r1):
        before, skipped, after = r["weights"]
        assert all(torch.equal(before[k], skipped[k]) for k in before)
        assert any(not torch.equal(skipped[k], after[k]) for k in before)
    for k, v in r0["weights"][-1].items():
        assert torch.equal(v, r1["weights"][-1][k]), k  # the ranks stay in step
