"""tools/quality.py and relkd.bench's quality table: its plan of runs, aggregation over seeds,
gain and gap recovered, table and plot (the comparison at convergence: test_converged.py)."""

import os
import subprocess

import pytest

from relkd.bench import converged, runs, tables, weights
from relkd.bench import plan as table_plan
from relkd.bench.jobs import run_jobs

from ..conftest import REPO, load_tool


@pytest.fixture(scope="module")
def quality():
    """The script, for its command line."""
    return load_tool("quality")


def _run(ap, ap50=None, aps=None, sec=0.2):
    bbox = {"AP": ap, "AP50": ap50 if ap50 is not None else 2 * ap, "APs": aps or ap}
    return {"results": {"bbox": bbox}, "sec_per_iter": sec}


def test_aggregate_mean_std_range_and_median_time():
    agg = tables.aggregate([_run(4.0, sec=0.2), _run(5.0, sec=0.4), _run(7.5, sec=0.3)])
    assert agg["n"] == 3
    assert agg["AP"] == pytest.approx(5.5) and agg["AP_range"] == pytest.approx(3.5)
    # sample variance: (1.5^2 + 0.5^2 + 2^2) / 2 = 3.25
    assert agg["AP_std"] == pytest.approx(3.25**0.5)
    assert agg["AP50"] == pytest.approx(11.0) and agg["AP_all"] == [4.0, 5.0, 7.5]
    assert agg["sec_per_iter"] == pytest.approx(0.3)
    single = tables.aggregate([_run(4.0)])
    assert single["AP_range"] is None and single["AP_std"] is None


def test_welch_ci_hand_computed():
    # equal variances 1 and 3 seeds each: se = sqrt(2/3), df = 4, t(0.975, 4) = 2.776445
    lo, hi = tables.welch_ci([6.0, 7.0, 8.0], [4.0, 5.0, 6.0])
    half = 2.776445 * (2 / 3) ** 0.5
    assert (lo, hi) == (pytest.approx(2 - half, abs=1e-5), pytest.approx(2 + half, abs=1e-5))
    # unequal variances: df = (va + vb)^2 / (va^2 / 2 + vb^2 / 2) with va = 1/12, vb = 1/3
    va, vb = 0.25 / 3, 1.0 / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    from scipy.stats import t

    lo, hi = tables.welch_ci([7.5, 8.0, 8.5], [4.0, 5.0, 6.0])
    assert hi - lo == pytest.approx(2 * t.ppf(0.975, df) * (va + vb) ** 0.5)
    assert tables.welch_ci([1.0], [2.0, 3.0]) is None
    assert tables.welch_ci([2.0, 2.0], [1.0, 1.0]) == (1.0, 1.0)


def test_table_gain_ci_and_gap_recovered(tmp_path):
    results = {
        "retinanet": {
            "teacher": tables.aggregate([_run(10.0)]),
            "baseline": tables.aggregate([_run(4.0), _run(5.0), _run(6.0)]),  # mean 5
            "fgfi": tables.aggregate([_run(6.0), _run(7.0), _run(8.0)]),  # +2, CI [-0.27, 4.27]
            "hgd": tables.aggregate([_run(9.0), _run(10.0), _run(11.0)]),  # +5, CI [2.73, 7.27]
            "drkd": tables.aggregate([_run(7.0)]),  # one seed: no interval
        }
    }
    lines = tables.table(results).splitlines()
    base, fgfi, hgd, drkd = ([c.strip() for c in ln.split("|")[1:-1]] for ln in lines[-4:])
    assert fgfi[:6] == ["retinanet", "FGFI", "3", "7.00", "1.00", "6.00, 7.00, 8.00"]
    assert fgfi[8:13] == ["+2.00", "[-0.27, +4.27]", "no", "40%", "0.200"]
    assert hgd[9:11] == ["[+2.73, +7.27]", "yes"] and hgd[11] == "100%"
    assert drkd[9:11] == ["-", "-"] and drkd[8] == "+2.00"
    assert base[4] == "1.00" and base[8] == "-" and base[10] == "-"  # a spread but no gain
    path = str(tmp_path / "ap.png")
    tables.plot(results, path)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _masked(box_ap: float, mask_ap: float) -> dict:
    return {"results": {"bbox": {"AP": box_ap}, "segm": {"AP": mask_ap}}, "sec_per_iter": 1.0}


def test_mask_ap_is_aggregated_and_tabled_beside_the_box_ap():
    results = {
        "faster_rcnn": {  # no masks: no mask row
            "teacher": tables.aggregate([_run(10.0)]),
            "baseline": tables.aggregate([_run(4.0), _run(5.0)]),
        },
        "mask_rcnn": {
            "teacher": tables.aggregate([_masked(30.0, 25.0)]),
            "baseline": tables.aggregate(
                [_masked(20.0, 15.0), _masked(21.0, 16.0), _masked(22.0, 17.0)]
            ),
            "fgfi": tables.aggregate(
                [_masked(24.0, 18.0), _masked(25.0, 19.0), _masked(26.0, 20.0)]
            ),
        },
    }
    fgfi = results["mask_rcnn"]["fgfi"]
    assert fgfi["AP"] == pytest.approx(25.0) and fgfi["mask_AP"] == pytest.approx(19.0)
    assert fgfi["mask_AP_all"] == [18.0, 19.0, 20.0] and fgfi["mask_AP_std"] == pytest.approx(1.0)
    assert results["faster_rcnn"]["baseline"]["mask_AP"] is None
    lines = tables.mask_table(results).splitlines()
    assert len(lines) == 2 + 3  # header, then the teacher, baseline and FGFI of Mask R-CNN only
    row = [c.strip() for c in lines[-1].split("|")[1:-1]]
    # +3 mask AP; equal spreads of 1 over 3 seeds: the half-width of test_welch_ci_hand_computed
    half = 2.776445 * (2 / 3) ** 0.5
    assert row[:7] == ["mask_rcnn", "FGFI", "3", "19.00", "1.00", "18.00, 19.00, 20.00", "+3.00"]
    assert row[7] == f"[{3 - half:+.2f}, {3 + half:+.2f}]"
    assert tables.mask_table({"faster_rcnn": results["faster_rcnn"]}) == ""


def test_mask_rcnn_runs_only_when_named(quality, monkeypatch):
    log = []
    _fake_runs(monkeypatch, log)
    assert quality.parse_args([]).detectors == ["retinanet", "faster_rcnn"]
    assert quality.parse_args(["--schedule", "full"]).detectors == [
        "retinanet",
        "faster_rcnn",
        "dab_detr",
    ]
    args = quality.parse_args(
        ["--detectors", "mask_rcnn", "--methods", "fgfi", "pkd", "--jobs", "1"]
    )
    jobs, raw = table_plan.plan(args)
    run_jobs(jobs, args.jobs)
    teacher, student = table_plan.SCHEDULES["cpu"]["mask_rcnn"]
    assert ("mask_rcnn/teacher", None, teacher, ()) in log
    assert sorted(raw["mask_rcnn"]) == ["baseline", "fgfi", "pkd", "teacher"]
    from relkd.bench.methods import student_config

    assert student_config("mask_rcnn", "pkd") == "configs/digits/mask_rcnn_R18_pkd.py"
    assert table_plan.teacher_name("mask_rcnn") == "mask_rcnn_R50_teacher"


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
    # the ratio loss_weight="auto" aims at (the distillation side includes FGFI's adapters)
    assert four["grad_detection"] == pytest.approx(one["grad_detection"], rel=1e-5)
    assert four["grad_ratio"] == pytest.approx(4.0 * one["grad_ratio"], rel=1e-5)


def _fake_runs(monkeypatch, log):
    """Replace the training runs with records of (job, threads) in ``log``."""

    def teacher(det, args, iters, extra=(), threads=None):
        log.append((f"{det}/teacher", threads, iters, tuple(extra)))
        return {"results": {"bbox": {"AP": 10.0}}}

    def student(det, method, seed, ckpt, args, iters, extra=(), threads=None):
        log.append((f"{det}/{method}/{seed}", threads, iters, tuple(extra)))
        return {"results": {"bbox": {"AP": float(seed)}}, "ckpt": ckpt}

    monkeypatch.setattr(table_plan, "teacher_run", teacher)
    monkeypatch.setattr(table_plan, "student_run", student)


def test_the_plan_runs_teachers_before_their_students_in_every_slot(quality, monkeypatch):
    log = []
    _fake_runs(monkeypatch, log)
    monkeypatch.setattr(quality.os, "cpu_count", lambda: 4)
    args = quality.parse_args(["--jobs", "2", "--methods", "fgfi", "drkd"])
    assert args.detectors == ["retinanet", "faster_rcnn"]  # the cpu schedule has no DAB-DETR
    jobs, raw = table_plan.plan(args)
    deps = {job.key: job.deps for job in jobs}
    assert deps["faster_rcnn/drkd/0"] == {"faster_rcnn/teacher"}
    assert deps["retinanet/baseline/1"] == set()  # a baseline needs no teacher
    run_jobs(jobs, args.jobs)
    order = [entry[0] for entry in log]
    assert len(order) == len(set(order)) == 2 * (1 + 3 * len(args.seeds))  # each job once
    assert args.seeds == [0, 1, 2]
    # the teachers start first, as others wait on them; no distilled run before its teacher
    assert set(order[:2]) == {"retinanet/teacher", "faster_rcnn/teacher"}
    for i, key in enumerate(order):
        if key.split("/")[1] in ("fgfi", "drkd"):
            assert order.index(key.split("/")[0] + "/teacher") < i
    assert {entry[1] for entry in log} == {2}  # 4 cores shared by 2 runs
    t_rn, s_rn = table_plan.SCHEDULES["cpu"]["retinanet"]
    assert ("retinanet/teacher", 2, t_rn, ()) in log
    assert ("faster_rcnn/drkd/1", 2, table_plan.SCHEDULES["cpu"]["faster_rcnn"][1], ()) in log
    # every summary lands in its row, seeds in order
    assert [r["results"]["bbox"]["AP"] for r in raw["retinanet"]["drkd"]] == [0.0, 1.0, 2.0]
    assert raw["faster_rcnn"]["teacher"][0]["results"]["bbox"]["AP"] == 10.0
    ckpt = raw["retinanet"]["fgfi"][0]["ckpt"]
    assert ckpt == os.path.join(table_plan.teacher_dir("retinanet", args, t_rn), "model_final.pth")


def test_dab_detr_waits_for_the_retinanet_teacher_and_the_student_backbone(quality, monkeypatch):
    log, cuts = [], []
    _fake_runs(monkeypatch, log)
    monkeypatch.setattr(
        "relkd.utils.checkpoints.extract_backbone", lambda src, dst, stages: cuts.append(src)
    )
    args = quality.parse_args(["--schedule", "full", "--detectors", "dab_detr", "--seeds", "3"])
    jobs, raw = table_plan.plan(args)
    assert set(raw) == {"dab_detr"}  # the runs that feed it are not rows
    deps = {job.key: set(job.deps) for job in jobs}
    assert deps["dab_detr/teacher"] == {"retinanet/teacher"}
    assert deps["dab_detr/backbones"] == {"faster_rcnn/baseline/0"}
    assert deps["dab_detr/kd_detr/3"] == {"dab_detr/backbones", "dab_detr/teacher"}
    run_jobs(jobs, args.jobs)
    order = [entry[0] for entry in log]
    assert order.index("dab_detr/teacher") > order.index("retinanet/teacher")
    # the teacher starts from the RetinaNet teacher's checkpoint (its ResNet + FPN, frozen),
    # the students from the seed-0 Faster R-CNN baseline's ResNet
    teacher = [e for e in log if e[0] == "dab_detr/teacher"][0]
    assert teacher[2] == 7000
    assert teacher[3] == (f"train.init_checkpoint={table_plan.retinanet_teacher_ckpt(args)}",)
    assert cuts == [os.path.join(args.output_root, "faster_rcnn/baseline/seed0/model_final.pth")]
    init = [e[3] for e in log if e[0] == "dab_detr/kd_detr/3"][0]
    assert init == (f"train.init_checkpoint={table_plan.backbone_path(args, 'student')}",)
    assert table_plan.teacher_name("dab_detr") == "dab_detr_R50_teacher_fpn"


def test_two_jobs_by_default_on_a_multicore_cpu(quality, monkeypatch):
    monkeypatch.setattr(quality.os, "cpu_count", lambda: 2)
    assert quality.parse_args([]).jobs == 2
    assert quality.parse_args(["--device", "cuda"]).jobs == 1
    assert quality.parse_args(["--jobs", "3"]).jobs == 3
    monkeypatch.setattr(quality.os, "cpu_count", lambda: 1)
    assert quality.parse_args([]).jobs == 1


def test_the_cpu_schedule_refuses_dab_detr_by_name(quality, capsys):
    with pytest.raises(SystemExit):
        quality.parse_args(["--detectors", "dab_detr"])
    assert "no schedule for ['dab_detr']; use --schedule full" in capsys.readouterr().err


def test_distiller_warmups_follow_the_schedule(quality, monkeypatch):
    seen = []
    monkeypatch.setattr(
        runs, "train_run", lambda config, out, overrides, *a: seen.append(overrides)
    )
    args = quality.parse_args(["--output-root", "/nonexistent/quality"])
    table_plan.student_run("retinanet", "fgfi", 1, "/t.pth", args, 400)  # config: 400 of 1,000
    table_plan.student_run("retinanet", "fgfi", 1, "/t.pth", args, 1000)
    table_plan.student_run("retinanet", "drkd", 1, "/t.pth", args, 400)  # no warm-up
    assert seen[0][-1] == "model.distillers.0.warmup_iters=160"
    assert not any("warmup" in o for o in seen[1] + seen[2])
    assert seen[0][:4] == [
        "train.max_iter=400",
        "train.seed=1",
        "train.device=cpu",
        "model.teacher.weights=/t.pth",
    ]


def test_train_run_with_threads_sets_the_env_and_names_the_log(monkeypatch, tmp_path):
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

    from relkd.bench.runs import model_difference

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
        model_difference(str(tmp_path), config, [*run, "model.distillers.0.pixel_weight=0.5"])
        == "model.distillers.0.pixel_weight"
    )
    assert (
        model_difference(str(tmp_path), config, ["model.teacher.weights=/other.pth"])
        == "model.teacher.weights"
    )
    assert model_difference(str(tmp_path), "configs/digits/retinanet_R18_fgfi.py", run)
    # one checkpoint by two paths (a link) is the same teacher; two files with equal bytes are not
    (tmp_path / "t.pth").write_bytes(b"x")
    (tmp_path / "copy.pth").write_bytes(b"x")
    os.symlink(tmp_path / "t.pth", tmp_path / "link.pth")
    run = [f"model.teacher.weights={tmp_path / 't.pth'}"]
    cfg = LazyConfig.apply_overrides(LazyConfig.load(os.path.join(REPO, config)), run)
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))
    link = [f"model.teacher.weights={tmp_path / 'link.pth'}"]
    assert model_difference(str(tmp_path), config, link) is None
    copy = [f"model.teacher.weights={tmp_path / 'copy.pth'}"]
    assert model_difference(str(tmp_path), config, copy) == "model.teacher.weights"


def test_weightings_add_rows_against_the_same_baseline(quality, monkeypatch):
    log = []
    _fake_runs(monkeypatch, log)
    args = quality.parse_args(
        ["--methods", "fgfi", "hgd", "--seeds", "0", "--loss-weight", "config", "auto", "code"]
    )
    _, raw = table_plan.plan(args)
    # HGD-R has no code weights: no row for them; one baseline serves every row
    assert list(raw["retinanet"]) == [
        "teacher",
        "baseline",
        "fgfi",
        "fgfi@auto",
        "fgfi@code",
        "hgd",
        "hgd@auto",
    ]
    fgfi = "configs/digits/retinanet_R18_fgfi.py"
    assert weights.weight_overrides("retinanet", "fgfi", fgfi) == []
    # a plain auto row names the class default it trains with (FGFI 4, the others 0.8), so a
    # run cached at another default is not reused
    assert weights.weight_overrides("retinanet", "fgfi@auto", fgfi) == [
        "model.distillers.0.loss_weight=auto",
        "model.distillers.0.target_ratio=4.0",
    ]
    assert weights.weight_overrides("retinanet", "fgfi@code", fgfi) == [
        "model.distillers.0.loss_weight=0.01"
    ]
    drkd = "configs/digits/retinanet_R18_drkd_hgd.py"  # two distillers, both set to auto
    # each distiller its own class default: DRKD 0.8, HGD-R 0.1
    assert weights.weight_overrides("retinanet", "drkd_hgd@auto", drkd) == [
        "model.distillers.0.loss_weight=auto",
        "model.distillers.0.target_ratio=0.8",
        "model.distillers.1.loss_weight=auto",
        "model.distillers.1.target_ratio=0.1",
    ]
    assert "FGFI, auto weights" in tables.table(
        {
            "retinanet": {
                k: tables.aggregate([{"results": {"bbox": {"AP": 5.0}}}]) for k in raw["retinanet"]
            }
        }
    )


def test_a_teacher_of_another_family_has_its_own_run_and_gap(quality, monkeypatch):
    log = []
    _fake_runs(monkeypatch, log)
    names = ["--methods", "fgfi", "fgfi_frcnn_teacher", "--seeds", "0", "1"]
    args = quality.parse_args(["--detectors", "retinanet", "faster_rcnn", *names])
    jobs, raw = table_plan.plan(args)
    assert list(raw["retinanet"])[:3] == ["teacher", "teacher_faster_rcnn", "baseline"]
    assert "fgfi_frcnn_teacher" not in raw["faster_rcnn"]  # a RetinaNet-student row only
    deps = {job.key: job.deps for job in jobs}
    # the CPU table's Faster R-CNN teacher (1,000 it.) is another run than the config's (2,500)
    assert deps["faster_rcnn/teacher@config"] == set()
    assert deps["retinanet/fgfi_frcnn_teacher/1"] == {"faster_rcnn/teacher@config"}
    run_jobs(jobs, args.jobs)
    trained = sorted(e[2] for e in log if e[0] == "faster_rcnn/teacher")
    assert trained == [table_plan.SCHEDULES["cpu"]["faster_rcnn"][0], 2500]
    t_rn = table_plan.SCHEDULES["cpu"]["retinanet"][0]
    assert raw["retinanet"]["fgfi"][1]["ckpt"] == os.path.join(
        table_plan.teacher_dir("retinanet", args, t_rn), "model_final.pth"
    )
    assert raw["retinanet"]["fgfi_frcnn_teacher"][1]["ckpt"] == os.path.join(
        REPO, "output", "digits", "faster_rcnn_R50_teacher", "model_final.pth"
    )
    assert raw["retinanet"]["teacher_faster_rcnn"][0] is not None
    # with the configs' schedules the two are one run: the second job waits and reuses it
    full = quality.parse_args(
        ["--schedule", "full", "--detectors", "retinanet", "faster_rcnn", *names]
    )
    deps = {job.key: job.deps for job in table_plan.plan(full)[0]}
    assert deps["faster_rcnn/teacher@config"] == {"faster_rcnn/teacher"}
    # the cross row's gap recovered is measured against its own teacher: 2 / (20 - 5)
    results = {
        "retinanet": {
            "teacher": tables.aggregate([_run(10.0)]),
            "teacher_faster_rcnn": tables.aggregate([_run(20.0)]),
            "baseline": tables.aggregate([_run(4.0), _run(5.0), _run(6.0)]),
            "fgfi": tables.aggregate([_run(6.0), _run(7.0), _run(8.0)]),
            "fgfi_frcnn_teacher": tables.aggregate([_run(6.0), _run(7.0), _run(8.0)]),
        }
    }
    rows = [[c.strip() for c in ln.split("|")[1:-1]] for ln in tables.table(results).splitlines()]
    by_label = {r[1]: r for r in rows[2:]}
    assert by_label["FGFI"][11] == "40%" and by_label["FGFI, Faster R-CNN teacher"][11] == "13%"
    assert by_label["teacher (Faster R-CNN R50)"][8] == "-"  # a teacher row has no gain


def test_an_auto_weighting_with_its_own_target_ratio(quality, capsys):
    args = quality.parse_args(["--methods", "fgfi", "--seeds", "0", "--loss-weight", "auto:4"])
    assert weights.row_keys("retinanet", "fgfi", args.loss_weight) == ["fgfi@auto:4"]
    drkd = "configs/digits/retinanet_R18_drkd_hgd.py"  # two distillers: both get the ratio
    assert weights.weight_overrides("retinanet", "drkd_hgd@auto:2.5", drkd) == [
        "model.distillers.0.loss_weight=auto",
        "model.distillers.0.target_ratio=2.5",
        "model.distillers.1.loss_weight=auto",
        "model.distillers.1.target_ratio=2.5",
    ]
    assert tables.label("fgfi@auto:4") == "FGFI, auto weights (target ratio 4)"
    for bad in ("auto:0", "auto:x", "auto:", "hand"):
        with pytest.raises(SystemExit):
            quality.parse_args(["--loss-weight", bad])
        assert f"{bad!r} is not a weighting" in capsys.readouterr().err


def test_student_scale_lengthens_the_students_only(quality, monkeypatch, capsys):
    # --student-scale 2 on the full schedule: the RetinaNet teacher keeps its 2,500 iterations
    # (so the configs' own teacher is reused), every student runs 2,000 instead of 1,000, and
    # the distillers' warm-ups follow the students' schedule
    log = []
    _fake_runs(monkeypatch, log)
    args = quality.parse_args(
        ["--schedule", "full", "--detectors", "retinanet", "--methods", "hgd", "--seeds", "0"]
        + ["--student-scale", "2", "--jobs", "1"]
    )
    assert table_plan.iterations("retinanet", args) == (2500, 2000)
    jobs, _ = table_plan.plan(args)
    run_jobs(jobs, args.jobs)
    iters = {entry[0]: entry[2] for entry in log}
    assert iters == {
        "retinanet/teacher": 2500,
        "retinanet/baseline/0": 2000,
        "retinanet/hgd/0": 2000,
    }
    both = quality.parse_args(["--schedule", "full", "--scale", "0.5", "--student-scale", "3"])
    assert table_plan.iterations("faster_rcnn", both) == (1250, 1500)
    with pytest.raises(SystemExit):
        quality.parse_args(["--student-scale", "0"])
    assert "--student-scale must be > 0, got 1.0, 0.0" in capsys.readouterr().err


# --- the method table (relkd.bench.methods) ------------------------------------------------


def test_every_method_names_configs_that_exist_and_weights_it_can_run():
    from relkd.bench.methods import DETECTORS, METHODS, student_config

    for name, method in METHODS.items():
        assert set(method.configs) <= set(DETECTORS), name
        for det in method.configs:
            assert os.path.isfile(os.path.join(REPO, student_config(det, name))), (name, det)
        # code weights only where the method runs, a teacher of a family the tools know
        assert set(method.code_weights) <= set(method.configs), name
        assert method.teacher is None or method.teacher in DETECTORS, name
    assert student_config("faster_rcnn", "baseline") == "configs/digits/faster_rcnn_R18_student.py"
    # the published methods are the default rows; the comparison at convergence runs some of them
    assert [n for n, m in METHODS.items() if m.default] == ["fgfi", "drkd", "hgd", "kd_detr"]
    assert set(converged.METHODS) <= {n for n, m in METHODS.items() if m.default}


def test_the_method_list_comes_from_the_distiller_registry(tmp_path, monkeypatch):
    from relkd.bench import methods
    from relkd.distillers import DISTILLER_REGISTRY, Distiller

    # every relkd distiller with digits configs is a method, under its name's default (the
    # registry also holds the tests' own distillers when they have been imported)
    names = {
        methods.recipe_name(cls)
        for _, cls in DISTILLER_REGISTRY
        if cls.__module__.startswith("relkd.")
    }
    assert set(methods.METHODS) - names == {"drkd_hgd", "drkd_released", "fgfi_frcnn_teacher"}
    assert names - set(methods.METHODS) == {"crosskd_roi"}  # in the crosskd recipe's configs

    # a distiller registered by user code becomes a row once it has a digits config
    class ToyKD(Distiller):
        def __init__(self, *, name: str = "toy_kd"):
            super().__init__()

    monkeypatch.setitem(DISTILLER_REGISTRY._obj_map, "ToyKD", ToyKD)
    assert "toy_kd" not in methods.registered_methods()
    (tmp_path / "configs" / "digits").mkdir(parents=True)
    (tmp_path / "configs" / "digits" / "retinanet_R18_toy_kd.py").write_text("")
    monkeypatch.setattr(methods, "REPO", str(tmp_path))
    row = methods.registered_methods()["toy_kd"]
    assert row.label == "ToyKD" and dict(row.configs) == {"retinanet": "retinanet_R18_toy_kd"}
    assert not row.default and not row.demo and not row.code_weights


def test_the_demo_offers_the_table_s_demo_methods():
    demo = load_tool("demo")
    assert demo.DEMO_METHODS == {
        "feature_mse": "FeatureMSE",
        "fgfi": "FGFI",
        "drkd": "DRKD",
        "hgd": "HGD-R",
    }
    assert demo.parse_args(["--method", "hgd"]).method == "hgd"
