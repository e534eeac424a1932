"""relkd.utils.checkpoints / tools/backbone_init.py: a detector's ResNet into a DAB-DETR."""

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from relkd.utils.checkpoints import extract_backbone

from .conftest import load_cfg, run_tool


def test_faster_rcnn_resnet_loads_into_dab_detr_exactly(tmp_path):
    torch.manual_seed(0)
    frcnn = instantiate(load_cfg("digits/faster_rcnn_R18_student.py").model)
    src = str(tmp_path / "frcnn.pth")
    torch.save({"model": frcnn.state_dict()}, src)
    out = str(tmp_path / "backbone.pth")
    n = extract_backbone(src, out, stages=("stem", "res2", "res3", "res4"))
    detr = instantiate(load_cfg("digits/dab_detr_R18_student.py").model)
    assert n == len(detr.backbone.state_dict())  # every backbone tensor, res5 left out
    before = {k: v.clone() for k, v in detr.state_dict().items() if not k.startswith("backbone.")}
    incompatible = DetectionCheckpointer(detr)._load_model(torch.load(out, weights_only=True))
    assert not incompatible.unexpected_keys and not incompatible.incorrect_shapes
    assert not [k for k in incompatible.missing_keys if k.startswith("backbone.")]
    bottom_up = frcnn.backbone.bottom_up.state_dict()
    for k, v in detr.backbone.state_dict().items():
        assert torch.equal(v, bottom_up[k]), k
    for k, v in before.items():  # the transformer is untouched
        assert torch.equal(detr.state_dict()[k], v), k


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        extract_backbone(str(tmp_path / "nope.pth"), str(tmp_path / "o.pth"))
    src = str(tmp_path / "other.pth")
    torch.save({"model": {"head.weight": torch.zeros(1)}}, src)
    with pytest.raises(ValueError, match="'backbone.bottom_up.'.*prefixes: \\['head.weight'\\]"):
        extract_backbone(src, str(tmp_path / "o.pth"))


def test_digits_detr_configs_name_the_backbones_and_tool_makes_them(tmp_path):
    for name, depth in (("dab_detr_R50_teacher", 50), ("dab_detr_R18_student", 18)):
        path = load_cfg(f"digits/{name}.py").train.init_checkpoint
        assert path == f"output/digits/backbones/faster_rcnn_R{depth}.pth"
    torch.manual_seed(0)
    frcnn = instantiate(load_cfg("digits/faster_rcnn_R18_student.py").model)
    src = str(tmp_path / "frcnn.pth")
    torch.save({"model": frcnn.state_dict()}, src)
    out = str(tmp_path / "b.pth")
    proc = run_tool("backbone_init.py", src, out, "--stages", "stem", "res2")
    keys = torch.load(out, weights_only=True)["model"]
    assert f"wrote {len(keys)} tensors" in proc.stdout
    assert {k.split(".")[1] for k in keys} == {"stem", "res2"}
