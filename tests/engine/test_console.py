"""train_net.py's console holds what a user reads; the environment, config text and model print
are in log.txt only, without terminal colour codes."""

from ..conftest import run_train_net


def test_console_before_the_first_iteration_is_short_and_log_txt_has_the_rest(tmp_path):
    proc = run_train_net(
        "--config-file",
        "configs/digits/retinanet_R18_student.py",
        "train.max_iter=2",
        "train.log_period=1",
        f"train.output_dir={tmp_path}",
        "dataloader.evaluator=null",
        "dataloader.train.num_workers=0",
    )
    console = proc.stdout + proc.stderr
    before = console.split("Starting training from iteration 0")[0].splitlines()
    # 377 lines before (environment table, colour-coded config, model print, warnings)
    assert len(before) <= 25, "\n".join(before)
    for noise in ("Environment info", "PyTorch built with", "Model:", "\x1b[", "Warning"):
        assert noise not in console, noise
    log = (tmp_path / "log.txt").read_text()
    for kept in (
        "Environment info",
        "PyTorch built with",
        "Contents of args.config_file",
        "Model:",
    ):
        assert kept in log, kept
    assert "\x1b[" not in log


def test_details_follow_the_output_dir_of_each_run(tmp_path):
    # several do_train calls in one process: each run's model print goes to its own log.txt
    from relkd.engine.console import details

    details(str(tmp_path / "a")).info("first run")
    details(str(tmp_path / "b")).info("second run")
    details(None).info("nowhere")
    a, b = (tmp_path / "a" / "log.txt").read_text(), (tmp_path / "b" / "log.txt").read_text()
    assert "first run" in a and "second run" not in a
    assert "second run" in b and "first run" not in b and "nowhere" not in a + b
