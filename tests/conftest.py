"""Shared fixtures: configs, a tiny real batch, teacher checkpoints (seeded random weights) and
teachers trained for a few iterations through the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DETECTORS = ("retinanet", "faster_rcnn")
TEACHERS = (*DETECTORS, "dab_detr", "mask_rcnn")


def detector_of(config_name: str) -> str:
    """The detector family of a digits config file name."""
    return next(d for d in TEACHERS if os.path.basename(config_name).startswith(d))


def needs_masks(config_name: str) -> bool:
    """Whether a digits config's student has a mask head (it trains on ``digits_det_segm``)."""
    return os.path.basename(config_name).startswith("mask_rcnn")


def teacher_of(config_name: str) -> str:
    """The family of the teacher a digits config distils from: the student's own, except in
    the configs with a teacher of another family (``*_frcnn_teacher.py``)."""
    if config_name.endswith("_frcnn_teacher.py"):
        return "faster_rcnn"
    return detector_of(config_name)


def load_cfg(name: str, *overrides: str):
    """Load ``configs/<name>`` with ``key=value`` overrides."""
    from detectron2.config import LazyConfig

    cfg = LazyConfig.load(os.path.join(REPO, "configs", name))
    return LazyConfig.apply_overrides(cfg, list(overrides))


def run_script(script: str, *args: str, timeout: int = 600, check: bool = True):
    """Run a script of the repository (``train_net.py``, ``tools/...``) as a user would."""
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert (
            proc.returncode == 0
        ), f"{script} {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def run_train_net(
    *args: str, timeout: int = 600, check: bool = True
) -> subprocess.CompletedProcess:
    """Run ``train_net.py`` from the command line as a user would."""
    return run_script("train_net.py", *args, timeout=timeout, check=check)


def load_tool(tool: str):
    """Import ``tools/<tool>.py`` as a module (the tools are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"relkd_tool_{tool}", os.path.join(REPO, "tools", f"{tool}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(
    tool: str, *args: str, check: bool = True, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run ``tools/<tool>`` from the command line."""
    return run_script(os.path.join("tools", tool), *args, check=check, timeout=timeout)


def _calibrate_norms(model, batch: list[dict]) -> None:
    """Set the BatchNorm running statistics of a random-weight ``model`` to those of its
    backbone's activations on ``batch`` (a trained teacher's keep features in range; the
    initial mean 0 and variance 1 would let them grow layer by layer)."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the calibration pass
    model.train()
    with torch.no_grad():
        model.backbone(model.preprocess_image(batch).tensor)
    for m in norms:
        m.momentum = 0.1
    model.eval()


@pytest.fixture(scope="session")
def teacher_ckpt(tmp_path_factory, digits_batch) -> dict[str, str]:
    """``{detector: checkpoint}`` of each digits teacher with seeded random weights (norms
    calibrated on ``digits_batch``), built and saved in this process (the one command-line
    training is ``tests/engine/test_train_net.py``'s)."""
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import instantiate

    root = tmp_path_factory.mktemp("random_teachers")
    out = {}
    for det in TEACHERS:
        torch.manual_seed(1)
        # the teacher the distilled configs name (their distillation base's)
        model = instantiate(load_cfg(f"digits/{det}_R18_distill_base.py").model.teacher.model)
        _calibrate_norms(model, digits_batch)
        if det == "dab_detr":
            # DAB-DETR zero-initialises its last box layer: a random teacher's boxes would be
            # its anchors, as the student's are, and KD-DETR's box terms about 0
            for name, p in model.named_parameters():
                if name.startswith("bbox_embed."):
                    torch.nn.init.normal_(p, std=0.05)
        DetectionCheckpointer(model, save_dir=str(root)).save(det)
        out[det] = str(root / f"{det}.pth")
    return out


# the test teachers train for 4 iterations: untrained by design, so the preflight is off
NO_PREFLIGHT = "train.teacher_preflight.enabled=False"


def distill_cfg(det: str, teacher_ckpt: dict, *overrides: str):
    return load_cfg(
        f"digits/{det}_R18_feature_mse.py",
        f"model.teacher.weights={teacher_ckpt[det]}",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
        NO_PREFLIGHT,
        *overrides,
    )


@pytest.fixture(scope="session")
def digits_batch():
    """Two real ``digits_det`` training inputs, as the train loader gives them."""
    from detectron2.config import instantiate
    from detectron2.utils.env import seed_all_rng

    cfg = load_cfg(
        "digits/retinanet_R18_student.py",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
    )
    # the train sampler draws its shuffle seed from numpy: seed it too, so every run (and CI)
    # sees the same two images
    seed_all_rng(0)
    return next(iter(instantiate(cfg.dataloader.train)))


@pytest.fixture(scope="session")
def digits_segm_batch():
    """The two images of ``digits_batch`` from ``digits_det_segm_train``, as the Mask R-CNN
    train loader gives them: their instances also hold ``gt_masks``."""
    from detectron2.config import instantiate
    from detectron2.utils.env import seed_all_rng

    cfg = load_cfg(
        "digits/mask_rcnn_R18_student.py",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
    )
    seed_all_rng(0)  # as digits_batch: the same shuffle, the same two images
    return next(iter(instantiate(cfg.dataloader.train)))


@pytest.fixture
def batch_of(request):
    """``batch_of(config_name)``: the batch a digits config trains on in the tests,
    ``digits_segm_batch`` for a student with a mask head, else ``digits_batch``."""

    def get(config_name: str) -> list[dict]:
        fixture = "digits_segm_batch" if needs_masks(config_name) else "digits_batch"
        return request.getfixturevalue(fixture)

    return get


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


# The names through which a test starts another Python process (a script run as a user would,
# or detectron2's ``launch`` of DDP workers).
_PROCESS_RUNNERS = {"run_script", "run_train_net", "run_tool", "subprocess", "launch"}


def _starts_processes(fn, seen: set) -> bool:
    """Whether ``fn``, or a function of the repository that it names (followed through its
    module's globals), names one of :data:`_PROCESS_RUNNERS`."""
    code = getattr(fn, "__code__", None)
    if code is None or fn in seen:
        return False
    seen.add(fn)
    stack, names = [code], set()
    while stack:  # nested functions and lambdas have their own code objects
        c = stack.pop()
        names |= set(c.co_names)
        stack += [k for k in c.co_consts if hasattr(k, "co_names")]
    if names & _PROCESS_RUNNERS:
        return True
    scope = getattr(fn, "__globals__", {})
    for name in names:
        target = scope.get(name)
        if getattr(target, "__module__", "").startswith("tests") and callable(target):
            if _starts_processes(target, seen):
                return True
    return False


def pytest_collection_modifyitems(config, items) -> None:
    """Mark ``cli`` every test that starts another process, itself or through a fixture it
    uses: ``make test-fast`` leaves them out (``make test`` runs them)."""
    for item in items:
        fns = [getattr(item, "function", None)]
        info = getattr(item, "_fixtureinfo", None)
        for defs in (info.name2fixturedefs.values() if info else ()):
            fns += [d.func for d in defs]
        seen: set = set()
        if any(_starts_processes(f, seen) for f in fns if f is not None):
            item.add_marker(pytest.mark.cli)
