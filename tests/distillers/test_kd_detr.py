"""KDDETR with DistillDABDETR: docs/methods.md ("KD-DETR") properties on tiny models."""

import pytest
import torch
from detectron2.utils.events import EventStorage
from torch import nn

from relkd import DistillDABDETR, Teacher
from relkd.distillers import KDDETR, DetrPoints

from ..modeling.test_dab_detr import tiny_detr, tiny_inputs, tiny_kwargs

KD_KEYS = {f"loss_kd_detr_{p}_{t}" for p in ("specific", "general") for t in ("cls", "l1", "giou")}


def distilled(teacher_model, *, copy_teacher=False, layers=3, points=6, **kd):
    """A tiny DistillDABDETR around ``teacher_model``; with ``copy_teacher`` its weights are
    the teacher's."""
    model = DistillDABDETR(
        teacher=Teacher(model=teacher_model, loaded=True),
        distillers=[KDDETR(num_general_points=points, **kd)],
        **tiny_kwargs(num_decoder_layers=layers, seed=1),
    )
    if copy_teacher:
        model.load_state_dict(teacher_model.state_dict())
    return model


def _bn_eval(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    return model


@pytest.mark.parametrize(
    "layers, pairing, zero", [(1, "last", True), (3, "layerwise", True), (3, "last", False)]
)
def test_student_identical_to_teacher_gives_zero_kd(layers, pairing, zero):
    teacher = tiny_detr(seed=0, num_decoder_layers=layers)
    with torch.no_grad():  # non-trivial boxes: the zero-initialised box head would hide L1/GIoU
        teacher.bbox_embed.layers[-1].weight.normal_(0, 0.5)
    model = distilled(teacher, copy_teacher=True, layers=layers, layer_pairing=pairing)
    _bn_eval(model.train())  # BN on running statistics, as in the eval-mode teacher
    with EventStorage(0):
        losses = model(tiny_inputs())
    kd = {k: losses[k].item() for k in KD_KEYS}
    if zero:
        assert all(abs(v) < 1e-5 for v in kd.values()), kd
    else:  # every student layer against the teacher's LAST layer: earlier layers differ
        assert all(kd[k] > 1e-4 for k in kd if not k.endswith("cls")), kd


def _recording(model, calls):
    real = model._points

    def points(images, enc, cache):
        p = real(images, enc, cache)
        return DetrPoints(
            student=lambda a: (calls.append(("student", a.clone())), p.student(a))[1],
            teacher=lambda a: (calls.append(("teacher", a.clone())), p.teacher(a))[1],
            teacher_anchors=p.teacher_anchors,
        )

    model._points = points


def test_points_are_shared_within_a_step_and_fresh_across_steps():
    teacher = tiny_detr(seed=0)
    model = distilled(teacher, points=7).train()
    calls: list = []
    _recording(model, calls)
    with EventStorage(0):
        model(tiny_inputs())
        model(tiny_inputs())
    # per step (one pass per set, as the recording offers no batched pass): the teacher on
    # specific and general points, then the student on the same two sets
    assert [c[0] for c in calls] == ["teacher", "teacher", "student", "student"] * 2
    spec, gen1, gen2 = calls[0][1], calls[1][1], calls[5][1]
    assert torch.equal(spec, teacher.refpoint_embed.weight) and spec.shape == (12, 4)
    assert torch.equal(calls[2][1], spec)
    assert gen1.shape == (7, 4) and torch.equal(calls[3][1], gen1)
    assert torch.equal(calls[7][1], gen2) and not torch.equal(gen1, gen2)


def test_one_pass_for_all_point_sets_gives_the_separate_passes_losses():
    teacher = tiny_detr(seed=0)
    with torch.no_grad():  # non-trivial boxes, as above
        teacher.bbox_embed.layers[-1].weight.normal_(0, 0.5)
    losses = {}
    for one_pass in (True, False):
        model = distilled(
            teacher, one_pass=one_pass, generator=torch.Generator().manual_seed(3)
        ).train()
        with EventStorage(0):
            out = model(tiny_inputs())
        losses[one_pass] = torch.stack([out[k] for k in sorted(KD_KEYS)])
    # the same values up to float rounding: in one pass the sets sit side by side in every
    # operation, and self-attention masks each set from the other
    assert torch.allclose(losses[True], losses[False], rtol=1e-4, atol=1e-6), losses


def test_generator_makes_points_reproducible_and_inits_have_their_law():
    a = KDDETR(num_general_points=3000, generator=torch.Generator().manual_seed(5))
    b = KDDETR(num_general_points=3000, generator=torch.Generator().manual_seed(5))
    pa, pb = a.sample_general(torch.device("cpu")), b.sample_general(torch.device("cpu"))
    assert torch.equal(pa, pb) and pa.shape == (3000, 4)
    assert abs(pa.mean()) < 0.06 and abs(pa.std() - 1) < 0.05  # N(0, 1) in logit space
    u = KDDETR(num_general_points=3000, general_init="uniform", generator=torch.Generator())
    s = u.sample_general(torch.device("cpu")).sigmoid()
    assert abs(s.mean() - 0.5) < 0.02 and abs(s.std() - (1 / 12) ** 0.5) < 0.02  # U(0, 1)


def test_kd_passes_leave_detection_losses_unchanged():
    teacher = tiny_detr(seed=0)
    model = distilled(teacher).train()
    plain = tiny_detr(seed=1).train()
    plain.load_state_dict(model.state_dict())
    with EventStorage(0):
        distill_losses = model(tiny_inputs())
    plain_losses = plain(tiny_inputs())
    assert set(distill_losses) == set(plain_losses) | KD_KEYS
    # bitwise: the detection losses come from the same decoder pass on the same weights; the
    # KD point sets are separate passes (a batched pass would need a tolerance here)
    for k, v in plain_losses.items():
        assert torch.equal(v, distill_losses[k]), k


def test_eval_detections_equal_plain_dab_detr():
    model = distilled(tiny_detr(seed=0)).eval()
    plain = tiny_detr(seed=1).eval()
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        a, b = model(tiny_inputs()), plain(tiny_inputs())
    for x, y in zip(a, b):
        assert torch.equal(x["instances"].pred_boxes.tensor, y["instances"].pred_boxes.tensor)
        assert torch.equal(x["instances"].scores, y["instances"].scores)


def test_gradients_reach_every_student_decoder_layer_and_never_the_teacher():
    teacher = tiny_detr(seed=0)
    model = distilled(teacher).train()
    with EventStorage(0) as storage:
        losses = model(tiny_inputs())
    assert "relkd/teacher/ms" in storage.histories()
    assert "relkd/kd_detr/general/fg_weight" in storage.histories()
    sum(losses[k] for k in KD_KEYS).backward()  # the KD terms alone
    for i, layer in enumerate(model.decoder.layers):
        assert layer.ca_qc.weight.grad.abs().sum() > 0, i
    assert model.backbone.stem.conv1.weight.grad.abs().sum() > 0
    # no trainable module, and the teacher stays frozen and out of the state dict
    assert not list(model.distillers.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    assert not any(k.startswith("teacher") for k in model.state_dict())


def test_teacher_is_not_moved_out_of_eval():
    teacher = tiny_detr(seed=0)
    model = distilled(teacher).train()
    teacher.train()  # a caller flips it
    with EventStorage(0):
        model(tiny_inputs())
    assert not teacher.training


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(temperature=0), "temperature"),
        (dict(num_general_points=0), "num_general_points"),
        (dict(general_init="gauss"), "general_init.*'gauss'"),
        (dict(layer_pairing="first"), "layer_pairing.*'first'"),
        (dict(point_sets=("random",)), "point_sets.*'random'"),
        (dict(point_sets=()), "point_sets"),
        (dict(l1_weight=-1.0), "l1_weight"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KDDETR(**kwargs)


def test_name_prefixes_the_loss_keys():
    assert KDDETR().loss_keys()[0] == "loss_kd_detr_specific_cls"
    keys = KDDETR(name="kd2", point_sets=("general",)).loss_keys()
    assert keys == ["loss_kd2_general_cls", "loss_kd2_general_l1", "loss_kd2_general_giou"]


def test_layerwise_needs_equal_depths():
    model = distilled(tiny_detr(seed=0, num_decoder_layers=2), layers=3, layer_pairing="layerwise")
    with EventStorage(0), pytest.raises(ValueError, match="student has 3 layers and the teacher 2"):
        model.train()(tiny_inputs())


def test_wrong_teacher_or_host_raises(teacher_ckpt):
    from detectron2.config import instantiate

    from ..conftest import load_cfg

    with pytest.raises(ValueError, match="11 classes and the student 10"):
        distilled(tiny_detr(seed=0, num_classes=11))
    retina = instantiate(load_cfg("digits/retinanet_R18_student.py").model)
    with pytest.raises(TypeError, match="DABDETR teacher, got RetinaNet"):
        DistillDABDETR(
            teacher=Teacher(model=retina, loaded=True), distillers=[KDDETR()], **tiny_kwargs(seed=1)
        )
    cfg = load_cfg(
        "digits/retinanet_R18_feature_mse.py",
        f"model.teacher.weights={teacher_ckpt['retinanet']}",
    )
    cfg.model.distillers = [KDDETR()]
    with pytest.raises(ValueError, match="KDDETR.*DistillDABDETR"):
        instantiate(cfg.model)
