"""``tools/grad_ratio.py``: each kept checkpoint of a run is measured at its own iteration, with
its own weights, on the same batches."""

from __future__ import annotations

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from detectron2.utils.events import EventStorage

from relkd.utils.grads import grad_norm, student_parameters

from .conftest import NO_PREFLIGHT, load_cfg, load_tool


def test_checkpoints_are_measured_at_their_iteration(teacher_ckpt, digits_batch, tmp_path):
    tool = load_tool("grad_ratio")
    cfg = load_cfg(
        "digits/retinanet_R18_fgfi.py",
        f"model.teacher.weights={teacher_ckpt['retinanet']}",
        "dataloader.train.total_batch_size=2",
        "train.max_iter=600",
        NO_PREFLIGHT,
    )
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    saver = DetectionCheckpointer(model, save_dir=str(tmp_path))
    saver.save("model_0000099")  # before FGFI's 400-iteration warm-up
    with torch.no_grad():  # other weights for the final checkpoint
        for p in model.distillers.parameters():
            p.add_(0.01)
    saver.save("model_final")
    assert [i for i, _ in tool.checkpoints(str(tmp_path))] == [99, 599]

    (result,) = tool.main([str(tmp_path), "--batches", "1", "--output", str(tmp_path / "out")])
    early, final = result["points"]
    assert (early["iteration"], final["iteration"]) == (99, 599)
    assert early["fgfi"] == 0.0 and early["ratio_fgfi"] == 0.0  # warm-up: no FGFI term
    # same student weights, same batch: the detection gradient does not depend on the order
    # the checkpoints are measured in (RetinaNet's running loss normaliser is not carried over)
    assert early["detection"] == pytest.approx(final["detection"], rel=1e-6)
    # the final point by hand: the tool's first batch is the loader's first for seed 0
    from detectron2.utils.env import seed_all_rng

    cfg.dataloader.train.num_workers = 0
    seed_all_rng(0)
    batch = next(iter(instantiate(cfg.dataloader.train)))
    model.teacher.load()
    model._ema_update = lambda name, value, *a, **k: value  # as the tool: no running mean
    with EventStorage(599):
        terms = model(batch)
    keys = model.distillers[0].loss_keys()
    student = student_parameters(model)
    det = grad_norm(sum(v for k, v in terms.items() if k not in keys), student).item()
    trained = student + list(model.distillers[0].parameters())
    fgfi = grad_norm(sum(terms[k] for k in keys), trained).item()
    assert fgfi > 0
    # the same computation on the same weights and batch in this process
    assert final["detection"] == pytest.approx(det, rel=1e-6)
    assert final["ratio_fgfi"] == pytest.approx(fgfi / det, rel=1e-6)
    assert (tmp_path / "out" / "grad_ratio.png").is_file()


def test_from_log_reads_what_the_run_logged(teacher_ckpt, digits_batch, tmp_path):
    from detectron2.utils.events import JSONWriter

    from .conftest import distill_cfg

    tool = load_tool("grad_ratio")
    cfg = distill_cfg(
        "retinanet",
        teacher_ckpt,
        "model.distillers.0.warmup_iters=0",
        "+model.grad_log_period=2",
    )
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    logged = {}
    writer = JSONWriter(str(tmp_path / "metrics.json"))
    with EventStorage(0) as storage:
        for it in range(5):
            storage.iter = it
            model(digits_batch)
            if it % 2 == 0:
                logged[it] = storage.latest()["relkd/feature_mse/grad_ratio"][0]
            storage.put_scalar("relkd/feature_mse/auto/grad", 7.0)  # the auto window's key
            writer.write()
    writer.close()
    out = str(tmp_path / "out")
    (result,) = tool.main([str(tmp_path), "--from-log", "--smooth", "3", "--output", out])
    assert (tmp_path / "out" / "grad_ratio.png").is_file()
    assert [p["iteration"] for p in result["points"]] == [0, 2, 4]
    for p in result["points"]:
        assert p["ratio_feature_mse"] == logged[p["iteration"]] > 0
        assert p["feature_mse"] == pytest.approx(p["ratio_feature_mse"] * p["detection"])
        assert set(p) == {"iteration", "detection", "feature_mse", "ratio_feature_mse"}
    with pytest.raises(ValueError, match="grad_log_period"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "metrics.json").write_text('{"iteration": 0, "loss": 1.0}\n')
        tool.logged_run(str(tmp_path / "empty"))


def test_running_median_is_centred_and_cut_at_the_ends():
    tool = load_tool("grad_ratio")
    assert tool.running_median([1.0, 9.0, 2.0, 8.0, 3.0], 3) == [5.0, 2.0, 8.0, 3.0, 5.5]
    assert tool.running_median([4.0, 1.0], 1) == [4.0, 1.0]
