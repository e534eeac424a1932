"""tools/demo.py runs the three trainings and prints its table (a few iterations each)."""

import os
import subprocess

from ..conftest import run_tool


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
