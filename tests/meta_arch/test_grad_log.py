"""``grad_log_period``: the gradient norms that the detection losses and each distiller send into
the student, logged every N iterations (relkd.meta_arch.calibration), equal to norms measured
here independently, and a training step left exactly as it is without them."""

import pytest
import torch
from detectron2.config import instantiate
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from ..conftest import distill_cfg
from ..test_yacs import student_cfg, teacher_files  # noqa: F401 (a fixture)

NUMERIC = ("model.distillers.0.loss_weight=0.5", "model.distillers.0.warmup_iters=0")


def _model(teacher_ckpt, period: int):
    cfg = distill_cfg("retinanet", teacher_ckpt, *NUMERIC, f"+model.grad_log_period={period}")
    torch.manual_seed(0)
    return instantiate(cfg.model).train()


def _norm(loss, params) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([g.double().flatten() for g in grads if g is not None]).norm().item()


def _logged(storage: EventStorage) -> dict[str, float]:
    return {k: v[0] for k, v in storage.latest().items() if "grad" in k}


def test_the_logged_norms_are_the_student_gradients_of_the_weighted_terms(
    teacher_ckpt, digits_batch
):
    model = _model(teacher_ckpt, period=3)
    student = [p for n, p in model.named_parameters() if not n.startswith("distillers.")]
    with EventStorage(3) as storage:
        losses = model(digits_batch)
        logged = _logged(storage)
    kd = {k: v for k, v in losses.items() if k.startswith("loss_feature_mse_")}
    det = sum(v for k, v in losses.items() if k not in kd)
    d_norm, r_norm = _norm(det, student), _norm(sum(kd.values()), student)
    assert logged["relkd/grad/detection"] == pytest.approx(d_norm, rel=1e-6)
    assert logged["relkd/feature_mse/grad"] == pytest.approx(r_norm, rel=1e-6)
    assert logged["relkd/feature_mse/grad_ratio"] == pytest.approx(r_norm / d_norm, rel=1e-6)
    with EventStorage(4) as storage:
        model(digits_batch)
        assert _logged(storage) == {}  # 4 is no multiple of 3: nothing measured


def test_a_logged_step_is_the_same_step(teacher_ckpt, digits_batch):
    grads = []
    for period in (0, 1):
        model = _model(teacher_ckpt, period)
        torch.manual_seed(1)
        with EventStorage(0) as storage:
            losses = model(digits_batch)
            sum(losses.values()).backward()
        assert ("relkd/grad/detection" in storage.latest()) == (period == 1)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert all(torch.equal(grads[0][n], grads[1][n]) for n in grads[0])


def test_a_negative_period_is_refused(teacher_ckpt):
    with pytest.raises(ValueError, match="grad_log_period.*-1"):
        _model(teacher_ckpt, -1)


def test_yacs_reads_the_period(teacher_files, digits_batch):  # noqa: F811
    cfg = student_cfg(teacher_files)
    assert cfg.RELKD.GRAD_LOG_PERIOD == 0
    cfg.RELKD.GRAD_LOG_PERIOD = 2
    model = build_model(cfg).train()
    assert model.grad_log_period == 2
    with EventStorage(2) as storage:
        model(digits_batch)
        assert storage.latest()["relkd/fgfi/grad_ratio"][0] > 0
