"""``loss_weight="auto"``: the weight measured from gradient norms, frozen after its window,
kept by checkpoints and equal on every DDP rank (relkd.distillers.auto_weight)."""

import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.engine import launch
from detectron2.utils.events import EventStorage

from relkd.distillers import FeatureMSE
from relkd.distillers.auto_weight import MAX_WINDOWS
from relkd.distillers.base import AUTO_TARGET_RATIO

from ..conftest import distill_cfg, load_cfg
from ..helpers import make_inputs
from .host_reads import DISTILL_READS, count_host_reads

AUTO = ("model.distillers.0.loss_weight=auto", "model.distillers.0.warmup_iters=0")


def _model(teacher_ckpt, *overrides, config=None, weight=AUTO):
    """The digits RetinaNet student with a random-weight teacher and ``config``'s distiller
    (FeatureMSE unless given), its weight ``"auto"`` unless ``weight`` says otherwise."""
    if config is None:
        cfg = distill_cfg("retinanet", teacher_ckpt, *weight, *overrides)
    else:
        cfg = load_cfg(
            config, f"model.teacher.weights={teacher_ckpt['retinanet']}", *weight, *overrides
        )
    torch.manual_seed(0)
    return instantiate(cfg.model).train()


def _step(model, batch, iteration: int, optimizer=None) -> dict:
    """One training step at ``iteration``; returns the losses as floats."""
    with EventStorage(iteration):
        losses = model(batch)
        sum(losses.values()).backward()
    if optimizer is not None:
        optimizer.step()
    model.zero_grad()
    return {k: v.item() for k, v in losses.items()}


def _images(digits_batch) -> list[list[dict]]:
    """The two digits images as two one-image batches."""
    return [digits_batch[:1], digits_batch[1:]]


def _norm(grads) -> float:
    return torch.cat([g.double().flatten() for g in grads if g is not None]).norm().item()


@pytest.mark.parametrize("per_term", [False, True])
def test_the_weight_is_the_target_ratio_of_the_measured_norms(teacher_ckpt, digits_batch, per_term):
    # the norms measured here independently, on the same model with a numeric weight of 1:
    # detection on the student's parameters, the distiller's terms on the student's and the
    # distiller's own (its adapters)
    ref = _model(teacher_ckpt, weight=("model.distillers.0.loss_weight=1.0",))
    student = [p for n, p in ref.named_parameters() if not n.startswith("distillers.")]
    own = list(ref.distillers[0].parameters())
    assert own and all(p.requires_grad for p in own + student)
    with EventStorage(0):
        losses = ref(digits_batch)
    raw = {k: v for k, v in losses.items() if k.startswith("loss_feature_mse_")}
    det = sum(v for k, v in losses.items() if k not in raw)
    d_norm = _norm(torch.autograd.grad(det, student, retain_graph=True, allow_unused=True))
    groups = [[v] for v in raw.values()] if per_term else [list(raw.values())]
    r_norms = [
        _norm(torch.autograd.grad(sum(g), student + own, retain_graph=True, allow_unused=True))
        for g in groups
    ]
    model = _model(
        teacher_ckpt, "model.distillers.0.auto_window=1", f"+model.distillers.0.per_term={per_term}"
    )
    during = _step(model, digits_batch, 0)
    weights = model.distillers[0].auto.weight.tolist()
    share = AUTO_TARGET_RATIO / len(raw) if per_term else AUTO_TARGET_RATIO
    assert weights == pytest.approx([share * d_norm / r for r in r_norms], rel=1e-6)
    # in the window the terms weigh 0 (the window measures, it does not distil)
    assert all(during[k] == 0.0 for k in raw)
    after = _step(model, digits_batch, 1)  # the same batch and model: the terms times w
    for i, (k, v) in enumerate(raw.items()):
        assert after[k] == pytest.approx(v.item() * weights[i if per_term else 0], rel=1e-5)


def test_a_term_k_times_larger_gets_a_weight_k_times_smaller(teacher_ckpt, digits_batch):
    weights = []
    for k in (1.0, 8.0):
        model = _model(teacher_ckpt, "model.distillers.0.auto_window=2")
        d = model.distillers[0]
        compute = d.compute
        d.compute = lambda inputs, f=compute, k=k: {t: v * k for t, v in f(inputs).items()}
        for i, batch in enumerate(_images(digits_batch)):
            _step(model, batch, i)
        assert d.auto.is_set
        weights.append(d.auto.weight.item())
    # a power of two scales every gradient, square and square root exactly
    assert weights[0] == 8.0 * weights[1]


def test_the_weight_is_frozen_after_its_window_and_kept_by_checkpoints(
    teacher_ckpt, digits_batch, tmp_path
):
    a, b = _images(digits_batch)
    model = _model(teacher_ckpt, "model.distillers.0.auto_window=2")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    _step(model, a, 0, optimizer)
    assert not model.distillers[0].auto.is_set
    _step(model, b, 1, optimizer)
    w = model.distillers[0].auto.weight.clone()
    assert model.distillers[0].auto.is_set and w.item() > 0
    for i in range(2, 4):  # the model changes; the weight does not
        _step(model, (a, b)[i % 2], i, optimizer)
        assert torch.equal(model.distillers[0].auto.weight, w)
    DetectionCheckpointer(model, str(tmp_path)).save("set")
    restored = _model(teacher_ckpt, "model.distillers.0.auto_window=2")
    DetectionCheckpointer(restored).load(str(tmp_path / "set.pth"))
    auto = restored.distillers[0].auto
    assert auto.is_set and torch.equal(auto.weight, w)
    losses = _step(restored, a, 4)  # used at once, not measured again
    assert any(v > 0 for k, v in losses.items() if k.startswith("loss_feature_mse_"))
    assert auto.pending is None and torch.equal(auto.weight, w)


def test_a_run_resumed_inside_the_window_continues_its_sums(teacher_ckpt, digits_batch, tmp_path):
    a, b = _images(digits_batch)
    whole = _model(teacher_ckpt, "model.distillers.0.auto_window=2")
    _step(whole, a, 0)
    _step(whole, b, 1)
    first = _model(teacher_ckpt, "model.distillers.0.auto_window=2")
    _step(first, a, 0)
    DetectionCheckpointer(first, str(tmp_path)).save("half")
    second = _model(teacher_ckpt, "model.distillers.0.auto_window=2")
    DetectionCheckpointer(second).load(str(tmp_path / "half.pth"))
    # RetinaNet's loss normaliser is a plain attribute, which relkd's RunState carries on a
    # real --resume (tests/engine/test_resume.py); the checkpoint carries the auto weight's
    second.loss_normalizer = first.loss_normalizer
    assert not second.distillers[0].auto.is_set
    _step(second, b, 1)
    # the same two measurements, one before and one after the checkpoint
    assert second.distillers[0].auto.is_set
    assert torch.equal(second.distillers[0].auto.weight, whole.distillers[0].auto.weight)


def _without_boxes(batch: list[dict]) -> list[dict]:
    out = []
    for x in batch:
        inst = x["instances"]
        out.append({**x, "instances": inst[inst.gt_classes < 0]})
    return out


FGFI = "digits/retinanet_R18_fgfi.py"


def test_a_batch_without_boxes_in_the_window_is_measured_as_zero(teacher_ckpt, digits_batch):
    # FGFI imitates only near boxes: without boxes its terms send no gradient at all
    a, b = _images(digits_batch)
    empty = _without_boxes(a)
    model = _model(teacher_ckpt, "model.distillers.0.auto_window=2", config=FGFI)
    _step(model, empty, 0)
    auto = model.distillers[0].auto
    assert auto.term_sum.item() == 0.0 and auto.det_sum.item() > 0
    _step(model, b, 1)
    w = auto.weight.item()
    assert auto.is_set and 0 < w < float("inf")
    ratio = model.distillers[0].target_ratio  # FGFI's own default (tests/distillers/test_base)
    assert w == pytest.approx(ratio * auto.det_sum.item() / auto.term_sum.item())


def test_a_window_that_never_measures_a_gradient_stops_the_run(teacher_ckpt, digits_batch):
    empty = _without_boxes(digits_batch)
    model = _model(teacher_ckpt, "model.distillers.0.auto_window=1", config=FGFI)
    for i in range(MAX_WINDOWS - 1):  # extended window after window, weight 0 meanwhile
        losses = _step(model, empty, i)
        assert losses["loss_fgfi_imitation"] == 0.0 and not model.distillers[0].auto.is_set
    with pytest.raises(RuntimeError, match="fgfi: loss_weight='auto' measured no distillation"):
        _step(model, empty, MAX_WINDOWS - 1)


def test_auto_outside_a_distilling_model_is_refused_at_its_second_step():
    d = FeatureMSE(student_features=["p3"], loss_weight="auto")
    from detectron2.layers import ShapeSpec

    d.setup({"p3": ShapeSpec(channels=4, stride=8)}, {"p3": ShapeSpec(channels=4, stride=8)})
    feats = {"p3": torch.randn(1, 4, 8, 8, requires_grad=True)}
    inputs = make_inputs(feats, {"p3": torch.randn(1, 4, 8, 8)}, [torch.zeros(0, 4)])
    assert all(v.item() == 0.0 for v in d(inputs).values())
    with pytest.raises(RuntimeError, match="nothing measured them"):
        d(inputs)


def _ddp_worker(teacher: str, batches: list, out: str) -> None:
    """Each rank: the auto window (2 steps) over its own batch under DDP, with optimizer
    steps, then one step more; saves the weight and this rank's own sums of the window."""
    from detectron2.utils import comm
    from torch.nn.parallel import DistributedDataParallel

    rank = comm.get_rank()
    model = _model({"retinanet": teacher}, "model.distillers.0.auto_window=2")
    ddp = DistributedDataParallel(model, broadcast_buffers=False)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.01)
    for i in range(3):
        _step(ddp, batches[rank], i, optimizer)
    auto = model.distillers[0].auto
    local = (auto.det_sum.item(), auto.term_sum.item())  # never reduced in place
    torch.save({"weight": auto.weight.clone(), "local": local}, os.path.join(out, f"{rank}.pt"))


def test_two_ddp_ranks_set_the_same_weight_from_both_ranks_norms(
    teacher_ckpt, digits_batch, tmp_path
):
    # each rank sees another image: their own norms differ, their weight must not
    args = (teacher_ckpt["retinanet"], _images(digits_batch), str(tmp_path))
    launch(_ddp_worker, 2, dist_url="auto", args=args)
    r0, r1 = (torch.load(tmp_path / f"{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["local"] != r1["local"]
    assert torch.equal(r0["weight"], r1["weight"])
    (d0, t0), (d1, t1) = r0["local"], r1["local"]
    expected = AUTO_TARGET_RATIO * (d0 + d1) / (t0 + t1)
    assert r0["weight"].item() == pytest.approx(expected, rel=1e-6)


def test_the_window_reads_the_device_only_when_it_ends(teacher_ckpt, digits_batch):
    a, b = _images(digits_batch)
    model = _model(teacher_ckpt, "model.distillers.0.auto_window=2")
    reads = []
    for i, batch in enumerate((a, b, a)):
        with count_host_reads() as counts:
            _step(model, batch, i)
        reads.append(dict(counts))
    # measuring: the step's usual one transfer; the end: one more, for the window's sums
    assert reads[0] == reads[2] == DISTILL_READS
    assert reads[1] == DISTILL_READS | {"distillers/auto_weight.py:_close": 1}


# the methods added beside the papers': "auto" sets each one's weight from its own gradients
AUTO_METHODS = [
    f"{det}_R18_{m}.py"
    for det in ("retinanet", "faster_rcnn")
    for m in ("pkd", "cwd", "mgd", "fgd", "crosskd")
]


@pytest.mark.parametrize("config", AUTO_METHODS)
def test_auto_puts_each_method_at_its_target_ratio(teacher_ckpt, digits_batch, config):
    # the weight a one-step window sets is target_ratio times the detection losses' gradient
    # norm on the student over the terms' on the student and the distiller's own parameters,
    # both measured here on the same step of the same model at weight 1 (seeded alike: the
    # ROI sampling and MGD's masks draw from the global generator)
    from ..conftest import teacher_of

    def build(*weight):
        cfg = load_cfg(
            f"digits/{config}",
            f"model.teacher.weights={teacher_ckpt[teacher_of(config)]}",
            *weight,
            "model.distillers.0.warmup_iters=0",
            "model.distillers.0.auto_window=1",
        )
        torch.manual_seed(0)
        return instantiate(cfg.model).train()

    ref = build("model.distillers.0.loss_weight=1.0")
    (d,) = ref.distillers
    torch.manual_seed(1)
    with EventStorage(0):
        losses = ref(digits_batch)
    own = {k for k in losses if k.startswith(f"loss_{d.name}_")}
    student = [p for n, p in ref.named_parameters() if not n.startswith("distillers.")]
    trained = student + [p for p in d.parameters() if p.requires_grad]
    det = sum(v for k, v in losses.items() if k not in own)
    kd = sum(losses[k] for k in own)
    d_norm = _norm(torch.autograd.grad(det, student, retain_graph=True, allow_unused=True))
    r_norm = _norm(torch.autograd.grad(kd, trained, allow_unused=True))
    model = build(*AUTO)
    torch.manual_seed(1)
    _step(model, digits_batch, 0)
    (auto,) = model.distillers
    assert not auto.auto.pending
    assert auto.auto.weight.item() == pytest.approx(auto.target_ratio * d_norm / r_norm, rel=1e-4)
