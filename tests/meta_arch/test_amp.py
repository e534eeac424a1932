"""Mixed precision: CPU bf16 autocast keeps every loss key finite; relations stay fp32."""

import glob
import os

import pytest
import torch
from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

from relkd.layers import GloRe, InstanceRelation

from ..conftest import REPO, load_cfg, teacher_of

DISTILLED = sorted(
    os.path.basename(p)
    for p in glob.glob(os.path.join(REPO, "configs/digits/*_R18_*.py"))
    if not p.endswith("_student.py")
)


@pytest.mark.slow
@pytest.mark.parametrize("name", DISTILLED)
def test_bf16_autocast_step_has_same_finite_keys(name, teacher_ckpt, batch_of):
    cfg = load_cfg(f"digits/{name}", f"model.teacher.weights={teacher_ckpt[teacher_of(name)]}")
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    batch = batch_of(name)
    with EventStorage(10_000):
        fp32 = model(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(batch)
    assert set(bf16) == set(fp32)
    assert all(torch.isfinite(v) for v in bf16.values()), {k: v.item() for k, v in bf16.items()}
    distill = [k for d in model.distillers for k in d.loss_keys()]
    assert all(bf16[k].dtype == torch.float32 for k in distill)
    sum(bf16.values()).backward()
    # the distillers' modules and the student (KD-DETR has no module of its own)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if list(model.distillers.parameters()):
        assert all(p.grad is not None for p in model.distillers.parameters())


def test_relation_and_glore_run_in_fp32_under_autocast():
    torch.manual_seed(0)
    rel = InstanceRelation(36, "code", generator=torch.Generator().manual_seed(0))
    x = torch.randn(7, 36) * 30  # large logits: bf16 softmax rows would miss 1 by ~1e-2
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z, a = rel(x.to(torch.bfloat16))
    assert a.dtype == torch.float32
    assert torch.allclose(a.sum(1), torch.ones(7), atol=1e-6)
    assert z.dtype == torch.bfloat16  # handed back in the input's dtype
    glore = GloRe(8, 4)
    xb = torch.randn(2, 8, 5, 5).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = glore(xb)
    # the same fp32 computation outside autocast, rounded to bf16 at the end: bitwise equal
    # (products in bf16 inside would round every intermediate and differ)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, glore(xb.float()).to(torch.bfloat16))
