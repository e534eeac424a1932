"""tools/quality.py: aggregation over seeds, gain and gap recovered, table and plot."""

import os
import subprocess

import pytest

from ..conftest import REPO, load_tool


@pytest.fixture(scope="module")
def quality():
    return load_tool("quality")


def _run(ap, ap50=None, aps=None, sec=0.2):
    bbox = {"AP": ap, "AP50": ap50 if ap50 is not None else 2 * ap, "APs": aps or ap}
    return {"results": {"bbox": bbox}, "sec_per_iter": sec}


def test_aggregate_mean_range_and_median_time(quality):
    agg = quality.aggregate([_run(4.0, sec=0.2), _run(5.0, sec=0.4), _run(7.5, sec=0.3)])
    assert agg["n"] == 3
    assert agg["AP"] == pytest.approx(5.5) and agg["AP_range"] == pytest.approx(3.5)
    assert agg["AP50"] == pytest.approx(11.0)
    assert agg["sec_per_iter"] == pytest.approx(0.3)
    single = quality.aggregate([_run(4.0)])
    assert single["AP_range"] is None


def test_table_gain_and_gap_recovered(quality, tmp_path):
    results = {
        "retinanet": {
            "teacher": quality.aggregate([_run(10.0)]),
            "baseline": quality.aggregate([_run(4.0), _run(6.0)]),  # mean 5
            "fgfi": quality.aggregate([_run(6.0), _run(7.0)]),  # mean 6.5: +1.5, 30% of 5
            "hgd": quality.aggregate([_run(7.5), _run(8.0)]),  # mean 7.75: +2.75, range 0.5
            "drkd": quality.aggregate([_run(7.0)]),  # one seed: no spread to compare with
        }
    }
    lines = quality.table(results).splitlines()
    base, fgfi, hgd, drkd = ([c.strip() for c in ln.split("|")[1:-1]] for ln in lines[-4:])
    assert fgfi[:6] == ["retinanet", "FGFI", "2", "6.5", "1.0", "13.0"]
    assert fgfi[7:9] == ["+1.5", "30%"]
    # the gain must exceed the larger range (the baseline's 2.0), not the method's own 1.0
    assert fgfi[9] == "no" and hgd[9] == "yes" and drkd[9] == "-"
    assert base[4] == "2.0" and base[7] == "-" and base[9] == "-"  # a range but no gain
    path = str(tmp_path / "ap.png")
    quality.plot(results, path)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_loss_scale_splits_detection_and_distillation(teacher_ckpt):
    mod = load_tool("loss_scale")
    rows = mod.main(
        [
            os.path.join(REPO, "configs/digits/retinanet_R18_fgfi.py"),
            "--batches",
            "1",
            f"model.teacher.weights={teacher_ckpt['retinanet']}",
            "dataloader.train.total_batch_size=2",
            "dataloader.train.num_workers=0",
        ]
    )
    (row,) = rows
    assert row["detection"] == pytest.approx(row["loss_cls"] + row["loss_box_reg"])
    # past the 400-iteration warm-up: the FGFI term is counted, and it is not zero
    assert row["distill"] == pytest.approx(row["loss_fgfi_imitation"]) and row["distill"] > 0


def test_loss_scale_gradient_norms_follow_the_weights(teacher_ckpt):
    mod = load_tool("loss_scale")
    args = [
        os.path.join(REPO, "configs/digits/retinanet_R18_fgfi.py"),
        "--batches",
        "1",
        "--grads",
        f"model.teacher.weights={teacher_ckpt['retinanet']}",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
    ]
    # a power-of-two ratio scales every float exactly; x3 moves the norm by 4e-4 through the
    # rounding of batch norm's cancelling backward
    (one,) = mod.main(args + ["model.distillers.0.loss_weight=0.001"])
    (four,) = mod.main(args + ["model.distillers.0.loss_weight=0.004"])
    assert one["grad_loss_fgfi_imitation"] > 0 and one["grad_loss_cls"] > 0
    # a term's gradient on the student scales with its weight; the others' do not move
    ratio = four["grad_loss_fgfi_imitation"] / one["grad_loss_fgfi_imitation"]
    assert ratio == pytest.approx(4.0, rel=1e-5)
    assert four["grad_loss_cls"] == pytest.approx(one["grad_loss_cls"], rel=1e-5)
    assert four["grad_loss_box_reg"] == pytest.approx(one["grad_loss_box_reg"], rel=1e-5)
    assert four["grad_all"] > 0


def test_jobs_fill_every_slot_with_single_thread_runs(quality, monkeypatch):
    calls = []

    def fake_run(det, method, seed, ckpt, args, iters, extra=(), threads=None):
        calls.append((det, method, seed, threads))
        return {"det": det, "method": method, "seed": seed}

    monkeypatch.setattr(quality, "student_run", fake_run)
    monkeypatch.setattr(quality.os, "cpu_count", lambda: 4)
    raw = {"retinanet": {"baseline": [None, None], "drkd": [None, None]}}
    jobs = [
        ("retinanet", m, i, seed, "t.pth", 1000, ())
        for m in ("baseline", "drkd")
        for i, seed in enumerate((0, 1))
    ]
    quality.run_students(jobs, raw, quality.parse_args(["--jobs", "2"]))
    assert {(c[1], c[2]) for c in calls} == {(m, s) for m in ("baseline", "drkd") for s in (0, 1)}
    assert {c[3] for c in calls} == {2}  # 4 cores shared by 2 runs
    for method, runs in raw["retinanet"].items():
        assert [r["seed"] for r in runs] == [0, 1] and {r["method"] for r in runs} == {method}


def test_train_run_with_threads_sets_the_env_and_names_the_log(monkeypatch, tmp_path):
    from relkd.engine import runs

    seen = {}

    def fake(cmd, cwd=None, env=None, stdout=None, stderr=None, check=False):
        seen.update(env=env, log=stdout.name)
        stdout.write("boom\n")
        return subprocess.CompletedProcess(cmd, 3)

    monkeypatch.setattr(runs.subprocess, "run", fake)
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match=r"exit 3\); see .*stdout\.txt"):
        runs.train_run("configs/x.py", out, [], threads=1)
    assert seen["env"]["OMP_NUM_THREADS"] == "1" and seen["env"]["MKL_NUM_THREADS"] == "1"
    with open(os.path.join(out, "stdout.txt")) as f:
        assert f.read() == "boom\n"


def test_a_cached_run_is_reused_only_for_the_same_model(tmp_path):
    from detectron2.config import LazyConfig

    from relkd.engine.runs import model_difference

    config = "configs/digits/retinanet_R18_drkd.py"
    run = ["model.teacher.weights=/t.pth", "train.seed=1"]
    assert model_difference(str(tmp_path), config, run) == "config.yaml"  # nothing saved
    cfg = LazyConfig.apply_overrides(LazyConfig.load(os.path.join(REPO, config)), run)
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))  # as train_net.py saves it
    # train.* (seed, schedule, output dir) does not make another model
    assert (
        model_difference(str(tmp_path), config, [*run, "train.seed=2", "train.max_iter=9"]) is None
    )
    assert (
        model_difference(str(tmp_path), config, [*run, "model.distillers.0.pr_weight=0.5"])
        == "model.distillers.0.pr_weight"
    )
    assert (
        model_difference(str(tmp_path), config, ["model.teacher.weights=/other.pth"])
        == "model.teacher.weights"
    )
    assert model_difference(str(tmp_path), "configs/digits/retinanet_R18_fgfi.py", run)
