"""Command-line overrides: a typo'd key or a word where a number goes is refused by name."""

import logging
import os

import pytest
from detectron2.config import LazyConfig

from relkd.engine import do_train
from relkd.engine.overrides import apply_overrides

from ..conftest import REPO, load_cfg, load_tool, run_train_net

FGFI = "digits/retinanet_R18_fgfi.py"
CONFIG = os.path.join(REPO, "configs", FGFI)


@pytest.mark.parametrize(
    "override, message",
    [
        # used to start the configured 1,000-iteration run
        ("train.max_iters=1", "'train' has no key 'max_iters'; did you mean 'max_iter'?"),
        ("train.max_iter=abc", r"train.max_iter='abc': train.max_iter is a number \(1000 in"),
        ("optimizer.lr=1e-3x", r"optimizer.lr='1e-3x': optimizer.lr is a number \(0.001 in"),
        ("model.distillers.0.loss_weight=aut", "loss_weight='aut': model.distillers.0.loss_w"),
        ("model.distillers.0.target_ration=1", "did you mean 'target_ratio'"),
        ("model.distillers.0.warmup_iter=3", "did you mean 'warmup_iters'"),
        ("model.distillers.1.loss_weight=2", "model.distillers is a list of 1, '1' is not an"),
        ("model.foo=1", "'model' has no key 'foo'"),  # RetinaNet's own arguments count too
        ("model.roi_heads.num_classes=3", "'model' has no key 'roi_heads'"),
        ("train.max_iter", "is not of the form key=value"),
    ],
)
def test_bad_overrides_are_refused(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(load_cfg(FGFI), [override])


@pytest.mark.parametrize(
    "override",
    [
        "train.max_iter=5",
        "model.distillers.0.loss_weight=0.5",  # in the config node
        "model.distillers.0.loss_weight=auto",  # a number or "auto"
        "model.distillers.0.target_ratio=0.5",  # Distiller's, through FGFI's **weighting
        "model.distillers.0.psi=0.6",  # FGFI's argument, left at its default by the config
        "model.nonfinite=skip",  # the distilling meta-architecture's argument
        "model.test_score_thresh=0.1",  # RetinaNet's, reached through **kwargs
        "train.clip_grad_norm=null",  # None switches a number setting off
        "train.stop_iter=3",  # read by relkd's loop with a default
        "train.max_iter=${train.seed}",
    ],
)
def test_existing_keys_and_arguments_pass(override):
    apply_overrides(load_cfg(FGFI), [override])


def test_train_net_refuses_a_typo_before_training(tmp_path):
    proc = run_train_net(
        "--config-file",
        f"configs/{FGFI}",
        "train.max_iters=1",
        f"train.output_dir={tmp_path}",
        check=False,
    )
    assert proc.returncode != 0
    assert "has no key 'max_iters'; did you mean 'max_iter'?" in proc.stderr
    assert not (tmp_path / "log.txt").exists()  # stopped before anything was set up


@pytest.mark.parametrize(
    "tool, args",
    [
        ("benchmark", [CONFIG, "--random-teacher", "--opts"]),
        ("visualize", ["--config-file", CONFIG]),
        ("export_student", ["missing.pth", "out.pth", "--config-file", CONFIG]),
        ("loss_scale", [CONFIG]),
    ],
)
def test_tools_refuse_a_typo(tool, args, tmp_path, monkeypatch):
    # the tools took overrides unchecked: the typo'd key was added and the run went on
    monkeypatch.chdir(tmp_path)  # nothing the tool might write lands in the checkout
    with pytest.raises(ValueError, match="'train' has no key 'max_iters'; did you mean"):
        load_tool(tool).main([*args, "train.max_iters=1"])


def test_eval_only_without_weights_is_refused(tmp_path):
    # used to evaluate a randomly initialised student and exit 0
    proc = run_train_net(
        "--config-file",
        "configs/digits/retinanet_R18_student.py",
        "--eval-only",
        f"train.output_dir={tmp_path}",
        check=False,
    )
    assert proc.returncode != 0
    assert "--eval-only needs the weights to evaluate: add train.init_checkpoint=PATH" in (
        proc.stderr + proc.stdout
    )


def test_resume_with_nothing_to_resume_warns(tmp_path, caplog):
    cfg = LazyConfig.apply_overrides(
        load_cfg("digits/retinanet_R18_student.py"),
        [
            f"train.output_dir={tmp_path}",
            "train.max_iter=1",
            "dataloader.evaluator=null",
            "dataloader.train.num_workers=0",
            "dataloader.train.total_batch_size=2",
        ],
    )
    with caplog.at_level(logging.WARNING, logger="relkd"):
        do_train(cfg, resume=True)
    assert any(
        r.levelno == logging.WARNING
        and r.getMessage().startswith("--resume: no checkpoint to " f"resume in {tmp_path}")
        for r in caplog.records
    )
