"""DistillRetinaNet / DistillRCNN: teacher isolation, inference equivalence, a training step."""

import copy
import glob
import os

import pytest
import torch
from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

from relkd import DistillRCNN, DistillRetinaNet
from relkd.distillers import FeatureMSE

from ..conftest import (
    DETECTORS,
    REPO,
    detector_of,
    distill_cfg,
    load_cfg,
    needs_masks,
    teacher_of,
)
from .host_reads import count_host_reads, expected_reads

PLAIN = {
    "retinanet": "digits/retinanet_R18_student.py",
    "faster_rcnn": "digits/faster_rcnn_R18_student.py",
}
CLASSES = {"retinanet": DistillRetinaNet, "faster_rcnn": DistillRCNN}


@pytest.fixture(scope="module", params=DETECTORS)
def built(request, teacher_ckpt):
    det = request.param
    torch.manual_seed(0)
    model = instantiate(distill_cfg(det, teacher_ckpt).model)
    return det, model


def test_class_and_teacher_isolation(built):
    det, model = built
    assert type(model) is CLASSES[det]
    keys = model.state_dict().keys()
    assert not any(k.startswith("teacher") for k in keys)
    assert any(k.startswith("distillers.0.adapters") for k in keys)
    teacher_params = {id(p) for p in model.teacher.model.parameters()}
    assert not teacher_params & {id(p) for p in model.parameters()}
    model.train()
    assert not model.teacher.model.training
    assert all(not p.requires_grad for p in model.teacher.model.parameters())


def test_teacher_follows_student_device(built):
    _, model = built
    m = copy.deepcopy(model)
    m.to(torch.device("meta"))
    assert m.teacher.device.type == "meta"
    assert next(m.teacher.model.parameters()).device.type == "meta"
    assert model.teacher.device.type == "cpu"  # the original is untouched


def test_inference_equals_plain_detectron2_model(built, digits_batch):
    det, model = built
    plain = instantiate(load_cfg(PLAIN[det]).model)
    # strict: every key of the plain model is in the distilled one, under the same name
    plain.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("distillers.")},
        strict=True,
    )
    if det == "retinanet":  # random heads score below 0.05: keep every candidate to compare
        model.test_score_thresh = plain.test_score_thresh = 0.0
    model.eval()
    plain.eval()
    inputs = [{"image": x["image"], "height": 128, "width": 128} for x in digits_batch]
    with torch.no_grad():
        a, b = model(inputs), plain(inputs)
    model.train()
    # bitwise: the distilling class runs its detectron2 parent's inference on the same weights
    for ra, rb in zip(a, b):
        ia, ib = ra["instances"], rb["instances"]
        assert len(ia) > 0
        assert torch.equal(ia.pred_boxes.tensor, ib.pred_boxes.tensor)
        assert torch.equal(ia.scores, ib.scores)
        assert torch.equal(ia.pred_classes, ib.pred_classes)


def test_training_step_gradients(built, digits_batch):
    det, model = built
    model.train()
    model.zero_grad()
    with EventStorage(0) as storage:
        losses = model(digits_batch)
    distill_keys = sorted(k for k in losses if k.startswith("loss_feature_mse_"))
    levels = ["p3", "p4", "p5"] if det == "retinanet" else ["p2", "p3", "p4", "p5"]
    assert distill_keys == sorted(f"loss_feature_mse_{lv}" for lv in levels)
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(v.item() > 0 for k, v in losses.items() if k in distill_keys)
    sum(losses.values()).backward()
    for name, p in model.distillers.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name
    assert next(model.backbone.bottom_up.stem.parameters()).grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.model.parameters())
    hist = storage.histories()
    assert "relkd/teacher/ms" in hist and "relkd/feature_mse/ms" in hist


def test_distill_loss_reaches_student_backbone(built, digits_batch):
    # the distillation term alone must produce gradients in the student's backbone
    _, model = built
    model.train()
    model.zero_grad()
    with EventStorage(0):
        losses = model(digits_batch)
    sum(v for k, v in losses.items() if k.startswith("loss_feature_mse_")).backward()
    assert next(model.backbone.bottom_up.stem.parameters()).grad.abs().sum() > 0


def test_duplicate_loss_keys_raise(teacher_ckpt):
    cfg = distill_cfg("retinanet", teacher_ckpt)
    cfg.model.distillers = [
        cfg.model.distillers[0],
        copy.deepcopy(cfg.model.distillers[0]),
    ]
    with pytest.raises(ValueError, match="both emit 'loss_feature_mse_p3'"):
        instantiate(cfg.model)


def test_unknown_feature_lists_available(teacher_ckpt):
    cfg = distill_cfg("retinanet", teacher_ckpt)
    cfg.model.distillers = [{"_target_": FeatureMSE, "student_features": ["p7"]}]
    with pytest.raises(
        ValueError, match=r"student produces no feature\(s\) \['p7'\]; available: .*'p2'.*'res5'"
    ):
        instantiate(cfg.model)


def test_a_distiller_without_brackets_is_named(teacher_ckpt):
    # used to surface torch's "ModuleList.extend should be called with an iterable"
    cfg = distill_cfg("retinanet", teacher_ckpt)
    cfg.model.distillers = {"_target_": FeatureMSE, "student_features": ["p3"]}
    with pytest.raises(
        TypeError,
        match=r"distillers must be a list of Distillers, got a single FeatureMSE: write "
        r"model.distillers = \[L\(FeatureMSE\)\(...\)\]",
    ):
        instantiate(cfg.model)


def test_nonfinite_term_raises_with_name(built, digits_batch):
    _, model = built
    model.train()
    d = model.distillers[0]
    orig = d.compute
    d.compute = lambda inputs: {k: v * float("nan") for k, v in orig(inputs).items()}
    try:
        with (
            EventStorage(7),
            pytest.raises(FloatingPointError, match="loss_feature_mse_p\\d is nan at iteration 7"),
        ):
            model(digits_batch)
    finally:
        del d.compute


DISTILLED = sorted(
    os.path.basename(p)
    for p in glob.glob(os.path.join(REPO, "configs/digits/*_R18_*.py"))
    if not p.endswith(("_student.py", "_distill_base.py"))
)


# the methods with a digits config on each CNN detector
CNN_METHODS = (
    "feature_mse",
    "fgfi",
    "drkd",
    "hgd",
    "drkd_hgd",
    "pkd",
    "cwd",
    "mgd",
    "fgd",
    "crosskd",
)


def test_distilled_configs_cover_every_method():
    for det in DETECTORS:
        for method in CNN_METHODS:
            assert f"{det}_R18_{method}.py" in DISTILLED
    assert "dab_detr_R18_kd_detr.py" in DISTILLED
    for method in ("feature_mse", "fgfi", "drkd", "hgd"):  # Mask R-CNN: the CNN distillers
        assert f"mask_rcnn_R18_{method}.py" in DISTILLED


def test_distill_rcnn_trains_the_mask_head_as_the_plain_mask_rcnn(teacher_ckpt, digits_segm_batch):
    """DistillRCNN hands the ROI heads the ground-truth masks: its detection losses, the mask
    loss included, are those of the plain Mask R-CNN with the same weights on the same batch."""
    from detectron2.modeling import GeneralizedRCNN

    cfg = load_cfg(
        "digits/mask_rcnn_R18_feature_mse.py",
        f"model.teacher.weights={teacher_ckpt['mask_rcnn']}",
    )
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    plain = instantiate(load_cfg("digits/mask_rcnn_R18_student.py").model).train()
    assert type(plain) is GeneralizedRCNN
    plain.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("distillers.")}
    )
    seen = []
    model.roi_heads.register_forward_pre_hook(lambda m, args: seen.append(args[3]))
    losses = {}
    for who, m in (("distilled", model), ("plain", plain)):
        torch.manual_seed(1)  # the same proposal and ROI sampling
        with EventStorage(0):
            losses[who] = m(digits_segm_batch)
    for targets, x in zip(seen[0], digits_segm_batch):
        assert torch.equal(targets.gt_masks.tensor, x["instances"].gt_masks.tensor)
    assert losses["distilled"]["loss_mask"].item() > 0
    for key, value in losses["plain"].items():
        assert torch.equal(losses["distilled"][key], value), key


# the GcBlock layers of FGD that the zero-initialised last conv keeps from the first gradient
FGD_AHEAD_OF_LAST_CONV = (".conv_mask.", ".channel_add.0.", ".channel_add.1.")


def _term_weight(distiller, key: str) -> float:
    """The weight a distiller gives the term logged as ``key`` (1 when it has no per-term ones)."""
    term = key.removeprefix(f"loss_{distiller.name}_")
    return getattr(distiller, "weights", {}).get(term, 1.0)


@pytest.mark.parametrize("name", DISTILLED)
def test_every_distilled_config_trains_one_step(name, teacher_ckpt, batch_of):
    det = detector_of(name)
    cfg = load_cfg(f"digits/{name}", f"model.teacher.weights={teacher_ckpt[teacher_of(name)]}")
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    model.train()
    # past every warm-up; relkd's host reads counted over the forward and the backward
    with EventStorage(10_000) as storage, count_host_reads() as reads:
        losses = model(batch_of(name))
        sum(losses.values()).backward()
    if needs_masks(name):  # the student's mask head trains on the ground-truth masks
        assert losses["loss_mask"].item() > 0
        assert all(p.grad is not None for p in model.roi_heads.mask_head.parameters())
    # the host waits for the device once per step (test_host_syncs.py)
    assert dict(reads) == expected_reads(det)
    keys = [k for d in model.distillers for k in d.loss_keys()]
    assert keys and set(keys) <= set(losses)
    # composed recipes keep every distiller's keys and log each one's time
    assert len(keys) == len(set(keys)) == sum(len(d.terms()) for d in model.distillers)
    timed = {f"relkd/{d.name}/ms" for d in model.distillers} | {"relkd/teacher/ms"}
    assert timed <= set(storage.histories())
    assert all(torch.isfinite(v) for v in losses.values())
    # a term the config weights 0 (DRKD's released variant keeps only the instance relation)
    # is exactly 0; every other term is positive
    weighted = {k for d in model.distillers for k in d.loss_keys() if _term_weight(d, k) != 0}
    assert weighted, keys
    assert all(losses[k].item() > 0 for k in weighted), {k: losses[k].item() for k in keys}
    assert all(losses[k].item() == 0 for k in set(keys) - weighted)
    # every distillation module is in the graph; all of them train, DRKD's teacher-side GloRe
    # and relation units and FGD's teacher-side GcBlocks included, except FGFI adapters of
    # levels the mask left empty, whose gradient is exactly 0 by design (the global max-IoU
    # mask can skip a level), and FGD's GcBlock layers ahead of their zero-initialised last conv
    grads = {n: p.grad for n, p in model.distillers.named_parameters()}
    assert all(g is not None for g in grads.values())
    nonzero = {n: bool(torch.count_nonzero(g)) for n, g in grads.items()}
    if "fgfi" in name:
        assert any(nonzero.values())
    elif name == "retinanet_R18_drkd_released.py":
        # only the instance-relation term reaches the loss: its units and adapter train, the
        # pixel and instance modules get an exact 0 (weight 0, as in the released code)
        relation = {n: v for n, v in nonzero.items() if "relation" in n}
        assert relation and all(relation.values()), relation
        assert not any(v for n, v in nonzero.items() if n not in relation)
    elif "fgd" in name:
        # FGD's GcBlocks start with their last conv at 0 (the official initialisation): before
        # the first update the layers ahead of it get an exact 0, everything else trains
        ahead = {n for n in nonzero if any(p in n for p in FGD_AHEAD_OF_LAST_CONV)}
        assert ahead and not any(nonzero[n] for n in ahead)
        assert all(v for n, v in nonzero.items() if n not in ahead)
    else:
        assert all(nonzero.values()), [n for n, v in nonzero.items() if not v]
    assert all(p.grad is None for p in model.teacher.model.parameters())
