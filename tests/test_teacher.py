"""Teacher: strict loading errors, freezing, re-normalisation and device following."""

import logging
import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from relkd import CheckpointLoadError, Teacher, TeacherLoadError
from relkd.loading import load_strict
from relkd.teacher import InputSpec

from .conftest import load_cfg

TEACHER_CFG = "configs/digits/retinanet_R50_teacher.py"


@pytest.fixture(scope="module")
def saved_teacher(tmp_path_factory):
    """A digits RetinaNet teacher checkpoint written by DetectionCheckpointer."""
    torch.manual_seed(0)
    model = instantiate(load_cfg("digits/retinanet_R50_teacher.py").model)
    out = tmp_path_factory.mktemp("ckpt")
    DetectionCheckpointer(model, str(out)).save("teacher")
    return str(out / "teacher.pth"), model


def test_loads_exact_weights(saved_teacher):
    path, model = saved_teacher
    teacher = Teacher(config=TEACHER_CFG, weights=path)
    assert not teacher.loaded and teacher.load() is teacher and teacher.loaded
    for (k, a), (_, b) in zip(model.state_dict().items(), teacher.model.state_dict().items()):
        assert torch.equal(a, b), k


def test_missing_file_names_the_path(tmp_path):
    bad = str(tmp_path / "nope.pth")
    teacher = Teacher(config=TEACHER_CFG, weights=bad)  # read at first use, not here
    with pytest.raises(TeacherLoadError, match="nope.pth"):
        teacher.load()


def test_a_student_load_error_is_not_a_teacher_error(tmp_path, saved_teacher):
    # the tools load students with load_strict; its errors were all TeacherLoadError
    path, _ = saved_teacher
    student = instantiate(load_cfg("digits/retinanet_R18_student.py").model)
    with pytest.raises(CheckpointLoadError, match="Student checkpoint .* does not match") as err:
        load_strict(student, path, what="Student")
    assert not isinstance(err.value, TeacherLoadError)
    with pytest.raises(CheckpointLoadError, match="Student weights are empty"):
        load_strict(student, "", what="Student")
    assert issubclass(TeacherLoadError, CheckpointLoadError)  # except clauses for either work


def test_empty_weights_rejected():
    with pytest.raises(TeacherLoadError, match="trained checkpoint"):
        Teacher(config=TEACHER_CFG, weights="")


def test_unreadable_file(tmp_path):
    p = tmp_path / "garbage.pth"
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(TeacherLoadError, match="unreadable"):
        Teacher(config=TEACHER_CFG, weights=str(p)).load()


def test_a_text_file_names_the_error_type_and_what_is_expected(tmp_path):
    # torch's message for this file is a bare "101", which was all the error said
    p = tmp_path / "notes.pth"
    p.write_text("hello world\n")
    with pytest.raises(
        TeacherLoadError,
        match=r"notes.pth' is unreadable \((KeyError|UnpicklingError): .*\); expected a checkpoint "
        r"saved by detectron2",
    ):
        Teacher(config=TEACHER_CFG, weights=str(p)).load()


def test_wrong_keys_are_named(saved_teacher, tmp_path):
    path, _ = saved_teacher
    ckpt = torch.load(path, weights_only=False)
    w = ckpt["model"].pop("head.cls_score.weight")
    ckpt["model"]["head.renamed_score.weight"] = w
    bad = tmp_path / "renamed.pth"
    torch.save(ckpt, bad)
    with pytest.raises(TeacherLoadError) as err:
        Teacher(config=TEACHER_CFG, weights=str(bad)).load()
    msg = str(err.value)
    assert "missing keys ['head.cls_score.weight']" in msg
    assert "unexpected keys ['head.renamed_score.weight']" in msg


def test_pixel_statistics_in_an_old_checkpoint_are_ignored_with_a_note(
    saved_teacher, tmp_path, caplog
):
    # checkpoints saved by detectron2 in 2020 hold them; relkd used to refuse such a teacher
    path, model = saved_teacher
    ckpt = torch.load(path, weights_only=False)
    ckpt["model"]["pixel_mean"] = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)
    ckpt["model"]["pixel_std"] = torch.tensor([4.0, 5.0, 6.0]).view(3, 1, 1)
    old = tmp_path / "old.pth"
    torch.save(ckpt, old)
    with caplog.at_level(logging.INFO, logger="relkd.loading"):
        teacher = Teacher(config=TEACHER_CFG, weights=str(old)).load()
    assert "ignoring ['pixel_mean', 'pixel_std'] in the checkpoint" in caplog.text
    assert torch.equal(teacher.model.pixel_mean, model.pixel_mean)  # the config's values
    ckpt["model"]["head.extra.weight"] = torch.zeros(1)  # a learned key stays refused
    torch.save(ckpt, old)
    with pytest.raises(TeacherLoadError, match=r"unexpected keys \['head.extra.weight'\]$"):
        Teacher(config=TEACHER_CFG, weights=str(old)).load()


def test_num_classes_mismatch(saved_teacher):
    path, _ = saved_teacher
    cfg = load_cfg("digits/retinanet_R50_teacher.py", "model.num_classes=5")
    with pytest.raises(TeacherLoadError, match="head.cls_score.weight.*num_classes"):
        Teacher(config=cfg, weights=path).load()


def test_frozen_and_eval(saved_teacher):
    teacher = Teacher(config=TEACHER_CFG, weights=saved_teacher[0])
    assert not teacher.model.training
    assert all(not p.requires_grad for p in teacher.model.parameters())


def test_config_relative_to_repo_root(saved_teacher, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a config path relative to the repository still resolves
    Teacher(config=TEACHER_CFG, weights=saved_teacher[0])
    with pytest.raises(FileNotFoundError, match="no_such_config.py"):
        Teacher(config="configs/no_such_config.py", weights=saved_teacher[0])


class _Stats(torch.nn.Module):
    def __init__(self, mean, std, fmt):
        super().__init__()
        self.register_buffer("pixel_mean", torch.tensor(mean).view(-1, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(std).view(-1, 1, 1))
        self.input_format = fmt


def test_renormalises_between_pixel_stats_and_formats(saved_teacher):
    teacher = Teacher(
        model=saved_teacher[1], loaded=True
    )  # BGR, detectron2's ImageNet stats, div 32
    student = _Stats([10.0, 20.0, 30.0], [2.0, 4.0, 8.0], "RGB")
    raw_rgb = torch.rand(1, 3, 40, 40) * 255
    raw_rgb[..., 30:, :] = 0  # will be the student's padding
    s_in = (raw_rgb - student.pixel_mean) / student.pixel_std
    s_in[..., 30:, :] = 0
    with pytest.raises(RuntimeError, match="student's input spec is unknown"):
        teacher.prepare_images(s_in, [(30, 40)])
    out = teacher.attach(InputSpec.of(student)).prepare_images(s_in, [(30, 40)])
    t = teacher.model
    expected = (raw_rgb.flip(1) - t.pixel_mean) / t.pixel_std
    assert out.shape == (1, 3, 64, 64)  # padded to the teacher's size divisibility (32)
    assert torch.allclose(out[..., :30, :40], expected[..., :30, :40], atol=1e-4)
    assert torch.count_nonzero(out[..., 30:, :]) == 0 and torch.count_nonzero(out[..., 40:]) == 0


def test_same_stats_pass_through(saved_teacher):
    teacher = Teacher(model=saved_teacher[1], loaded=True)
    x = torch.randn(2, 3, 64, 64)
    teacher.attach(InputSpec.of(teacher.model))
    assert teacher.prepare_images(x, [(64, 64)] * 2) is x


def test_needs_config_or_model():
    with pytest.raises(ValueError, match="exactly one"):
        Teacher()


def test_url_weights_are_not_checked_as_local_files(saved_teacher, monkeypatch):
    # a detectron2:// URL goes to the checkpointer's path manager, not to os.path.isfile
    seen = []
    from detectron2.checkpoint import DetectionCheckpointer as DC

    def fake_local_path(self, url):
        seen.append(url)
        return saved_teacher[0]

    monkeypatch.setattr(
        type(DC(torch.nn.Linear(1, 1)).path_manager), "get_local_path", fake_local_path
    )
    Teacher(config=TEACHER_CFG, weights="detectron2://zoo/model_final.pkl").load()
    assert seen == ["detectron2://zoo/model_final.pkl"]
    assert os.path.isfile(saved_teacher[0])


def test_a_distilled_model_evaluates_without_the_teacher_checkpoint(tmp_path, digits_batch):
    # --eval-only and export used to need the teacher checkpoint on disk
    from relkd.engine import do_train

    cfg = load_cfg(
        "digits/retinanet_R18_fgfi.py",
        f"model.teacher.weights={tmp_path / 'gone.pth'}",
        f"train.output_dir={tmp_path}",
        "dataloader.train.num_workers=0",
    )
    model = instantiate(cfg.model).eval()
    with torch.no_grad():
        (out,) = model([{"image": digits_batch[0]["image"]}])
    assert "instances" in out and not model.teacher.loaded
    with pytest.raises(TeacherLoadError, match="gone.pth"):
        do_train(cfg)  # training stops at its start, before the preflight and the first step
    assert not (tmp_path / "metrics.json").exists()


def test_a_teacher_is_prepared_once_not_at_every_run(saved_teacher, monkeypatch):
    """Loading, eval mode and the layout happen in ``prepare()``, which the runs call at the
    teacher's first use and after a change of dtype (another layout), not at every step."""
    teacher = Teacher(config=TEACHER_CFG, weights=saved_teacher[0])
    teacher.attach(InputSpec.of(teacher.model))
    calls = []
    prepare = teacher.prepare
    monkeypatch.setattr(teacher, "prepare", lambda: calls.append(teacher.dtype) or prepare())
    x = torch.zeros(1, 3, 64, 64)
    for _ in range(3):
        teacher.features(x, [(64, 64)], ["p3"])
    assert calls == [None] and teacher.loaded
    teacher.dtype = "bf16"  # channels-last: the weights are converted before the next run
    teacher.features(x, [(64, 64)], ["p3"])
    teacher.features(x, [(64, 64)], ["p3"])
    assert calls == [None, "bf16"]


def test_frozen_model_is_the_deprecated_name_of_prepare(saved_teacher):
    teacher = Teacher(config=TEACHER_CFG, weights=saved_teacher[0])
    with pytest.warns(DeprecationWarning, match=r"call Teacher.prepare\(\)"):
        model = teacher.frozen_model()
    assert model is teacher.model and teacher.loaded and not model.training
