"""train_net.py from the command line, checkpoints without the teacher, and --resume."""

import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from relkd.engine import do_train

from ..conftest import distill_cfg, read_json, run_train_net

# evaluation on the first 100 val images: the tests check that it runs, not the AP
MINI_EVAL = (
    "dataloader.test.dataset.names=digits_det_val_mini",
    "dataloader.evaluator.dataset_name=digits_det_val_mini",
)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> str:
    """The suite's one command-line training: the digits RetinaNet teacher, 4 iterations and
    the final evaluation (in-process tests train every detector: test_tensorboard.py,
    test_preflight.py, test_distill_models.py)."""
    out = str(tmp_path_factory.mktemp("cli") / "retinanet")
    run_train_net(
        "--config-file",
        "configs/digits/retinanet_R50_teacher.py",
        "train.max_iter=4",
        f"train.output_dir={out}",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
        *MINI_EVAL,
    )
    return out


def test_cli_trains_and_evaluates(cli_run):
    summary = read_json(os.path.join(cli_run, "summary.json"))
    assert summary["iterations"] == 4
    bbox = summary["results"]["bbox"]
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl"} <= set(bbox)
    assert summary["sec_per_iter"] > 0
    assert set(summary["last_losses"]) == {"loss_cls", "loss_box_reg"}
    assert os.path.isfile(os.path.join(cli_run, "config.yaml"))
    assert os.path.isfile(os.path.join(cli_run, "metrics.json"))


def test_cli_eval_only(cli_run):
    proc = run_train_net(
        "--config-file",
        "configs/digits/retinanet_R50_teacher.py",
        "--eval-only",
        f"train.init_checkpoint={cli_run}/model_final.pth",
        f"train.output_dir={cli_run}/eval",
        "dataloader.test.num_workers=0",
        *MINI_EVAL,
    )
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in proc.stdout + proc.stderr


def _distill_run_cfg(teacher_ckpt, out, max_iter):
    return distill_cfg(
        "retinanet",
        teacher_ckpt,
        f"train.output_dir={out}",
        f"train.max_iter={max_iter}",
        "train.checkpointer.period=1",
        "train.eval_period=0",
        "dataloader.test.num_workers=0",
        "dataloader.evaluator=null",  # no evaluation: the point here is the checkpoint
    )


def test_checkpoint_has_student_and_distillers_not_teacher(teacher_ckpt, tmp_path):
    out = str(tmp_path / "run")
    do_train(_distill_run_cfg(teacher_ckpt, out, 2))
    ckpt = torch.load(os.path.join(out, "model_final.pth"), weights_only=False)
    keys = ckpt["model"].keys()
    assert any(k.startswith("distillers.0.adapters.p3") for k in keys)
    assert any(k.startswith("backbone.bottom_up") for k in keys)
    assert not any(k.startswith("teacher") for k in keys)
    assert ckpt["iteration"] == 1
    # the trainer's state holds the optimizer and the LR scheduler (restored by --resume)
    assert "optimizer" in ckpt["trainer"]
    assert any("LRScheduler" in k for k in ckpt["trainer"]["hooks"])


def test_resume_restores_adapters_and_iteration(teacher_ckpt, tmp_path):
    out = str(tmp_path / "run")
    do_train(_distill_run_cfg(teacher_ckpt, out, 2))
    saved = torch.load(os.path.join(out, "model_final.pth"), weights_only=False)["model"]

    # a fresh model resumed from the directory holds the saved adapters, not its random init
    cfg = _distill_run_cfg(teacher_ckpt, out, 3)
    fresh = instantiate(cfg.model)
    key = "distillers.0.adapters.p3.0.weight"
    assert not torch.equal(fresh.state_dict()[key], saved[key])
    DetectionCheckpointer(fresh, out).resume_or_load("", resume=True)
    assert torch.equal(fresh.state_dict()[key], saved[key])

    summary = do_train(cfg, resume=True)  # continues at iteration 2 and stops after 3
    assert summary["iterations"] == 3
    resumed = torch.load(os.path.join(out, "model_final.pth"), weights_only=False)
    assert resumed["iteration"] == 2
    assert not torch.equal(resumed["model"][key], saved[key])  # the adapter kept training
