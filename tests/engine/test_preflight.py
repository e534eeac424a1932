"""Teacher preflight: an untrained teacher is refused before training, with a clear message."""

import pytest
import torch
from detectron2.evaluation import DatasetEvaluator

from relkd.engine import do_train
from relkd.engine.preflight import (
    TeacherPreflightError,
    _FirstBatches,
    _OnSeenImages,
    _TeacherInStudentFormat,
)
from relkd.teacher import InputSpec, Teacher

from ..conftest import distill_cfg

PREFLIGHT = [
    "train.teacher_preflight.enabled=True",
    "train.teacher_preflight.num_images=16",
    "dataloader.test.num_workers=0",
    "train.max_iter=2",
    "train.checkpointer.period=100",
]


def test_untrained_teacher_is_refused(teacher_ckpt, tmp_path):
    cfg = distill_cfg(
        "retinanet",
        teacher_ckpt,
        *PREFLIGHT,
        "train.teacher_preflight.min_ap=1.0",
        f"train.output_dir={tmp_path}",
    )
    with pytest.raises(TeacherPreflightError, match=r"box AP is 0\.\d\d on the first 16 .*") as e:
        do_train(cfg)
    msg = str(e.value)
    assert "below train.teacher_preflight.min_ap=1.0" in msg and "untrained or mismatched" in msg
    assert teacher_ckpt["retinanet"] in msg and "enabled=False" in msg
    assert not (tmp_path / "model_final.pth").exists()  # refused before training


@pytest.mark.slow
def test_passing_preflight_logs_ap_and_trains(teacher_ckpt, tmp_path):
    cfg = distill_cfg(
        "faster_rcnn",
        teacher_ckpt,
        *PREFLIGHT,
        "train.teacher_preflight.min_ap=0.0",
        f"train.output_dir={tmp_path}",
        "dataloader.evaluator=null",
    )
    cfg.train.teacher_preflight.enabled = True
    # without an evaluator the preflight cannot measure anything: it says so and steps aside
    assert "teacher_preflight_ap" not in do_train(cfg)
    cfg = distill_cfg(
        "faster_rcnn",
        teacher_ckpt,
        *PREFLIGHT,
        "train.teacher_preflight.min_ap=0.0",
        f"train.output_dir={tmp_path / 'b'}",
        "train.eval_period=0",
    )
    summary = do_train(cfg)
    assert summary["iterations"] == 2 and 0.0 <= summary["teacher_preflight_ap"] < 1.0


class _Recorder(DatasetEvaluator):
    def reset(self):
        self.seen = None

    def process(self, inputs, outputs):
        pass

    def evaluate(self, img_ids=None):
        self.seen = img_ids
        return {"bbox": {"AP": 1.0}}


def test_subset_evaluation_uses_only_seen_images():
    loader = [[{"image_id": 3}, {"image_id": 5}], [{"image_id": 8}], [{"image_id": 9}]]
    first = _FirstBatches(loader, 2)
    assert len(first) == 2 and [b[0]["image_id"] for b in first] == [3, 8]
    inner = _Recorder()
    ev = _OnSeenImages(inner)
    ev.reset()
    for batch in first:
        ev.process(batch, [None] * len(batch))
    assert ev.evaluate() == {"bbox": {"AP": 1.0}} and inner.seen == [3, 5, 8]


def test_teacher_gets_its_own_channel_order():
    seen = []

    class Fake(torch.nn.Module):
        input_format = "RGB"

        def __init__(self):
            super().__init__()
            self.register_buffer("pixel_mean", torch.zeros(3, 1, 1))
            self.register_buffer("pixel_std", torch.ones(3, 1, 1))

        def forward(self, inputs):
            seen.append(inputs[0]["image"])
            return [{}]

    img = torch.arange(3.0).view(3, 1, 1).expand(3, 2, 2)
    for student_format in ("BGR", "RGB"):
        teacher = Teacher(model=Fake(), loaded=True).attach(
            InputSpec((0.0,) * 3, (1.0,) * 3, student_format)
        )
        wrapper = _TeacherInStudentFormat(teacher)
        wrapper([{"image": img}])
    assert torch.equal(seen[0][:, 0, 0], torch.tensor([2.0, 1.0, 0.0]))
    assert torch.equal(seen[1], img)
    assert not wrapper.training and not wrapper.model.training


def test_num_images_zero_names_the_setting_not_the_teacher(teacher_ckpt, tmp_path):
    # used to evaluate nothing and blame the teacher ("AP 0.00 ... looks untrained")
    cfg = distill_cfg("retinanet", teacher_ckpt, *PREFLIGHT, f"train.output_dir={tmp_path}")
    cfg.train.teacher_preflight.num_images = 0
    with pytest.raises(
        ValueError,
        match=r"train.teacher_preflight.num_images must be >= 1, got 0 \(to skip the "
        r"preflight, set .*enabled=False\)",
    ):
        do_train(cfg)


def test_the_message_counts_the_images_actually_seen(teacher_ckpt, tmp_path):
    # an 8-image validation set used to be reported as "the first 100 images"
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from relkd.data import CLASS_NAMES

    name = "relkd_test_val8"
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: DatasetCatalog.get("digits_det_val")[:8])
        MetadataCatalog.get(name).set(thing_classes=list(CLASS_NAMES))
    cfg = distill_cfg(
        "retinanet",
        teacher_ckpt,
        *PREFLIGHT,
        "train.teacher_preflight.min_ap=101",
        f"train.output_dir={tmp_path}",
        f"dataloader.test.dataset.names={name}",
        f"dataloader.evaluator.dataset_name={name}",
        f"dataloader.evaluator.output_dir={tmp_path}/eval",
    )
    cfg.train.teacher_preflight.num_images = 100
    with pytest.raises(TeacherPreflightError, match=r"on the first 8 validation images"):
        do_train(cfg)
