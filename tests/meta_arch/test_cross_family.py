"""A teacher of another detector family: a Faster R-CNN teacher distils a RetinaNet student,
features paired by name (configs/*/retinanet_R*_fgfi_frcnn_teacher.py)."""

import pytest
import torch
from detectron2.config import instantiate
from detectron2.modeling import GeneralizedRCNN
from detectron2.utils.events import EventStorage

from relkd import DistillRetinaNet

from ..conftest import load_cfg

DIGITS = "digits/retinanet_R18_fgfi_frcnn_teacher.py"
LEVELS = ["p2", "p3", "p4", "p5"]


def test_a_faster_rcnn_teacher_distils_a_retinanet_student(teacher_ckpt, digits_batch):
    cfg = load_cfg(
        DIGITS,
        f"model.teacher.weights={teacher_ckpt['faster_rcnn']}",
        "model.distillers.0.warmup_iters=0",
    )
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    assert type(model) is DistillRetinaNet
    assert isinstance(model.teacher.model, GeneralizedRCNN)
    fgfi = model.distillers[0]
    seen = {}
    compute = fgfi.compute

    def recording(inputs):
        seen.update(inputs.teacher_features)
        return compute(inputs)

    fgfi.compute = recording
    with EventStorage(0):
        losses = model(digits_batch)
    # the distiller imitated the Faster R-CNN teacher's own FPN on the student's batch
    teacher = model.teacher.model
    with torch.no_grad():
        own = teacher.backbone(teacher.preprocess_image(digits_batch).tensor)
    assert sorted(seen) == LEVELS
    for name in LEVELS:
        # the same network on the same images, possibly padded to another size: a tolerance
        common = tuple(min(a, b) for a, b in zip(seen[name].shape, own[name].shape))
        crop = tuple(slice(0, n) for n in common)
        torch.testing.assert_close(seen[name][crop], own[name][crop], rtol=1e-4, atol=1e-4)
    term = losses["loss_fgfi_imitation"]
    assert term.item() > 0
    model.zero_grad()
    term.backward()
    # the imitation trains the student's FPN and the adapters; the teacher stays frozen
    assert model.backbone.fpn_output3.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in fgfi.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_a_level_the_other_family_lacks_is_refused_by_name():
    # COCO RetinaNet levels are p3-p7, Faster R-CNN's p2-p6: FGFI's default (every anchor
    # level of the student) asks the teacher for p7
    cfg = load_cfg("coco/retinanet_R50_fgfi_frcnn_teacher.py")
    del cfg.model.distillers[0].features
    with pytest.raises(ValueError) as info:
        instantiate(cfg.model)
    message = str(info.value)
    assert "FGFI: the teacher produces no feature(s) ['p7']" in message
    assert "both models produce ['p3', 'p4', 'p5', 'p6', 'res2'" in message
