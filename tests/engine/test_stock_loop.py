"""detectron2's stock LazyConfig training loop on a distilled digits config: it clips, skips
or refuses exactly as the config says, with no relkd hook installed.

``stock_train`` is the training part of detectron2's ``tools/lazyconfig_train_net.py``
``do_train`` (that script is not installed with detectron2), written out here.
"""

import itertools
import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.engine import AMPTrainer, HookBase, SimpleTrainer, create_ddp_model, hooks
from detectron2.model_zoo import get_config

from ..conftest import load_cfg


def save_random_teacher(out) -> str:
    """A randomly initialised digits RetinaNet teacher checkpoint in ``out`` (the tests here
    need no trained one)."""
    torch.manual_seed(0)
    model = instantiate(load_cfg("digits/retinanet_R50_teacher.py").model)
    DetectionCheckpointer(model, str(out)).save("teacher")
    return os.path.join(str(out), "teacher.pth")


@pytest.fixture(scope="module")
def random_teacher(tmp_path_factory) -> str:
    return save_random_teacher(tmp_path_factory.mktemp("teacher"))


def distilled_cfg(teacher: str, *overrides: str):
    return load_cfg(
        "digits/retinanet_R18_fgfi.py",
        f"model.teacher.weights={teacher}",
        "model.distillers.0.warmup_iters=0",
        "train.max_iter=3",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
        *overrides,
    )


class _Record(HookBase):
    """After every step: the student's weights and the gradients' global norm."""

    def __init__(self):
        self.weights, self.grad_norms = [], []

    def after_step(self):
        model = self.trainer.model
        self.weights.append({k: v.detach().clone() for k, v in model.named_parameters()})
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])) if grads else None
        self.grad_norms.append(norm)


def stock_train(cfg, batches=None, model=None):
    """detectron2's lazyconfig_train_net.py training loop (no evaluation, no writers)."""
    model = model if model is not None else instantiate(cfg.model)
    model.to(cfg.train.device)
    cfg.optimizer.params.model = model
    optim = instantiate(cfg.optimizer)
    loader = batches if batches is not None else instantiate(cfg.dataloader.train)
    model = create_ddp_model(model, **cfg.train.ddp)
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(model, loader, optim)
    record = _Record()
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            record,
        ]
    )
    trainer.train(0, cfg.train.max_iter)
    return trainer, record


def test_the_configs_clipping_applies_under_the_stock_loop(random_teacher):
    # the digits configs used to clip with a relkd hook only: this loop trained unclipped
    cfg = distilled_cfg(random_teacher, "optimizer.clip_grad_norm=0.001")
    trainer, record = stock_train(cfg)
    logged = trainer.storage.history("grad_norm").values()
    assert len(logged) == 3 and all(v > 0.001 for v, _ in logged)  # the norms before clipping
    for norm in record.grad_norms:  # the gradients the optimizer stepped with
        assert norm <= 0.001 * (1 + 1e-4)


def _poison_at(model, iteration: int) -> None:
    d = model.distillers[0]
    compute = d.compute
    d.compute = lambda inputs: (
        {k: v * float("nan") for k, v in compute(inputs).items()}
        if inputs.iteration == iteration
        else compute(inputs)
    )


def test_skip_is_a_real_skip_under_the_stock_loop(random_teacher, digits_batch):
    # the model used to log "Skipping iteration" while AdamW still decayed 41 of 94 parameters
    cfg = distilled_cfg(random_teacher, "model.nonfinite=skip")
    model = instantiate(cfg.model)
    _poison_at(model, 1)
    trainer, record = stock_train(cfg, itertools.repeat(digits_batch), model)
    before, skipped, after = record.weights
    assert all(torch.equal(before[k], skipped[k]) for k in before)
    assert any(not torch.equal(skipped[k], after[k]) for k in before)
    assert all(s["step"].item() == 2 for s in trainer.optimizer.state.values())
    assert trainer.optimizer.skipped_steps == 1 and model.skipped_iters == 1


def test_skip_without_a_guarded_optimizer_is_refused_at_the_start(random_teacher, digits_batch):
    cfg = distilled_cfg(random_teacher, "model.nonfinite=skip")
    cfg.optimizer = get_config("common/optim.py").AdamW  # a plain optimizer: nothing honours it
    with pytest.raises(
        ValueError, match=r"nonfinite='skip' needs an optimizer .*relkd.engine.optim"
    ):
        stock_train(cfg, itertools.repeat(digits_batch))


def test_relkd_loop_refuses_clipping_set_twice(random_teacher, tmp_path):
    from relkd.engine import do_train

    cfg = distilled_cfg(
        random_teacher,
        "train.clip_grad_norm=5.0",
        f"train.output_dir={tmp_path}",
        "train.teacher_preflight.enabled=False",
    )
    with pytest.raises(ValueError, match=r"set twice: train.clip_grad_norm=5.0 and the optim"):
        do_train(cfg)


def test_relkd_hook_beside_a_guarded_optimizer_leaves_the_skip_to_it(random_teacher, digits_batch):
    # relkd's loop registers NonFiniteSkip and the digits configs guard the optimizer: the
    # optimizer alone checks the norm, skips and counts the step
    from relkd.engine.hooks import NonFiniteSkip

    cfg = distilled_cfg(random_teacher, "model.nonfinite=skip")
    model = instantiate(cfg.model)
    _poison_at(model, 1)
    cfg.optimizer.params.model = model
    opt = instantiate(cfg.optimizer)
    trainer = SimpleTrainer(model, itertools.repeat(digits_batch), opt)
    record = _Record()
    trainer.register_hooks([NonFiniteSkip(), record])
    trainer.train(0, 3)
    before, skipped, _ = record.weights
    assert all(torch.equal(before[k], skipped[k]) for k in before)
    assert opt.skipped_steps == 1 and all(s["step"].item() == 2 for s in opt.state.values())
