"""tools/demo.py runs the three trainings and prints its table (a few iterations each)."""

import json
import os
import subprocess

import pytest

from ..conftest import REPO, load_tool, run_tool


def _demo(out: str) -> subprocess.CompletedProcess:
    return run_tool("demo.py", "--quick", "--output-root", out, timeout=900)


def test_demo_quick(tmp_path):
    out = str(tmp_path / "demo")
    proc = _demo(out)
    table = open(os.path.join(out, "demo_retinanet.md")).read()
    lines = table.strip().splitlines()
    assert lines[0] == "| model | config | AP | AP50 | APs | s/iter |"
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "teacher",
        "student (baseline)",
        "student + FGFI",
    ]
    assert table in proc.stdout
    for name in ("retinanet_R50_teacher", "retinanet_R18_student", "retinanet_R18_fgfi"):
        assert os.path.isfile(os.path.join(out, name, "model_final.pth"))
    # the second run reuses the cached teacher instead of training it again
    proc2 = _demo(out)
    assert "reusing the cached teacher" in proc2.stdout
    assert "configs/digits/retinanet_R50_teacher.py train.output_dir" not in proc2.stdout


def test_quick_runs_write_where_full_runs_never_read():
    demo = load_tool("demo")
    assert demo.parse_args([]).output_root == os.path.join(REPO, "output", "digits")
    assert demo.parse_args(["--quick"]).output_root == os.path.join(REPO, "output", "digits_quick")
    assert demo.parse_args(["--quick", "--output-root", "x"]).output_root == "x"


def _fake_teacher(out, iterations: int) -> None:
    os.makedirs(out)
    open(os.path.join(out, "model_final.pth"), "wb").close()
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"iterations": iterations, "results": {}, "sec_per_iter": None}, f)


def test_a_cached_teacher_of_another_length_is_refused_with_the_flag(tmp_path):
    demo = load_tool("demo")
    config = "configs/digits/retinanet_R50_teacher.py"
    out = str(tmp_path / "teacher")
    assert demo.cached_teacher(config, out, quick=False) is None  # nothing cached yet
    _fake_teacher(out, 4)  # what a quick demo used to leave in output/digits
    with pytest.raises(SystemExit, match="trained for 4 iterations, this demo trains it for 2500"):
        demo.cached_teacher(config, out, quick=False)
    with pytest.raises(SystemExit, match="--retrain-teacher"):
        demo.cached_teacher(config, out, quick=False)
    assert demo.cached_teacher(config, out, quick=True)["iterations"] == 4
