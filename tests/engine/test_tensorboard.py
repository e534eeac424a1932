"""Every ``loss_*`` term and ``relkd/*`` diagnostic reaches TensorBoard: read the event files
back after a short distilled run."""

from __future__ import annotations

import glob
import math
import os

from detectron2.config import LazyCall as L
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from relkd.distillers import FGFI, HGD
from relkd.engine import do_train

from ..conftest import NO_PREFLIGHT, load_cfg

ITERS = 3


def _run(config: str, weights: str, out: str, *extra: str):
    return load_cfg(
        config,
        f"model.teacher.weights={weights}",
        f"train.output_dir={out}",
        f"train.max_iter={ITERS}",
        "train.log_period=1",
        "train.eval_period=0",
        "train.checkpointer.period=1000",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
        "dataloader.evaluator=null",
        NO_PREFLIGHT,
        *extra,
    )


def _scalars(out: str) -> dict[str, list[float]]:
    files = glob.glob(os.path.join(out, "events.out.tfevents.*"))
    assert len(files) == 1, files
    acc = EventAccumulator(out, size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _check(scalars: dict, expected: set[str]) -> None:
    missing = expected - set(scalars)
    assert not missing, f"not in the event file: {sorted(missing)}"
    for tag in expected:
        assert len(scalars[tag]) == ITERS, (tag, scalars[tag])  # one point per logged iteration
        assert all(math.isfinite(v) for v in scalars[tag]), tag


def test_rcnn_with_three_distillers(teacher_ckpt, tmp_path):
    out = str(tmp_path / "rcnn")
    cfg = _run("digits/faster_rcnn_R18_drkd_hgd.py", teacher_ckpt["faster_rcnn"], out)
    cfg.model.distillers.append(L(FGFI)(features=["p3"], adapter_relu=False, warmup_iters=0))
    levels = list(cfg.model.distillers[1].get("levels") or HGD().levels)
    do_train(cfg)
    expected = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"}
    expected |= {f"loss_drkd_{t}" for t in ("pixel", "relation", "instance")}
    expected |= {f"loss_hgd_{lv}" for lv in levels} | {"loss_fgfi_imitation"}
    expected |= {"relkd/teacher/ms", "relkd/fgfi/mask_fraction"}
    expected |= {f"relkd/{d}/ms" for d in ("drkd", "hgd", "fgfi")}
    expected |= {f"relkd/hgd/weight_{lv}" for lv in levels}
    scalars = _scalars(out)
    _check(scalars, expected)
    assert all(0 <= v <= 1 for v in scalars["relkd/fgfi/mask_fraction"])
    # no stray relkd tags: the expected set is the whole list
    assert {t for t in scalars if t.startswith(("loss_", "relkd/"))} == expected


def test_dab_detr_with_kd_detr(teacher_ckpt, tmp_path):
    out = str(tmp_path / "detr")
    cfg = _run(
        "digits/dab_detr_R18_kd_detr.py",
        teacher_ckpt["dab_detr"],
        out,
        "train.init_checkpoint=''",
        "model.distillers.0.num_general_points=8",
    )
    do_train(cfg)
    layers = cfg.model.num_decoder_layers
    expected = {f"loss_{t}" for t in ("class", "bbox", "giou")}
    expected |= {f"loss_{t}_{i}" for t in ("class", "bbox", "giou") for i in range(layers - 1)}
    pairs = ("specific", "general")
    expected |= {f"loss_kd_detr_{p}_{t}" for p in pairs for t in ("cls", "l1", "giou")}
    expected |= {"relkd/teacher/ms", "relkd/kd_detr/ms"}
    expected |= {f"relkd/kd_detr/{p}/fg_weight" for p in pairs}
    scalars = _scalars(out)
    _check(scalars, expected)
    assert {t for t in scalars if t.startswith(("loss_", "relkd/"))} == expected
