"""PKD, CWD, MGD and FGD by name through the yacs entry point (``cfg.RELKD.DISTILLERS``)."""

import pytest
from detectron2.config import CfgNode, get_cfg

from relkd import add_relkd_config
from relkd.distillers import CWD, FGD, MGD, PKD
from relkd.meta_arch.yacs import build_distillers


@pytest.mark.parametrize(
    "name, cls, args, attr, value",
    [
        ("PKD", PKD, {"STUDENT_FEATURES": ["p2", "p3"], "LOSS_WEIGHT": 6.0}, "loss_weight", 6.0),
        ("CWD", CWD, {"STUDENT_FEATURES": ["p3"], "TAU": 4.0}, "tau", 4.0),
        ("MGD", MGD, {"STUDENT_FEATURES": ["p2"], "LAMBDA_MGD": 0.45}, "lambda_mgd", 0.45),
        ("FGD", FGD, {"STUDENT_FEATURES": ["p2"], "TEMPERATURE": 0.8}, "temperature", 0.8),
    ],
)
def test_built_by_name_with_their_arguments(name, cls, args, attr, value):
    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.RELKD.DISTILLERS = [name]
    cfg.RELKD.DISTILLER_ARGS[name] = CfgNode(args)
    (d,) = build_distillers(cfg)
    assert type(d) is cls and getattr(d, attr) == value
    assert d.student_names == args["STUDENT_FEATURES"]


def test_fgd_takes_its_weights_by_their_upper_cased_names():
    # lambda_ (lambda is a Python keyword) is LAMBDA_ in yacs
    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.RELKD.DISTILLERS = ["FGD"]
    cfg.RELKD.DISTILLER_ARGS.FGD = CfgNode(
        {"ALPHA": 5e-5, "BETA": 2.5e-5, "GAMMA": 5e-5, "LAMBDA_": 5e-7, "BOX_SCALE": "stride"}
    )
    (d,) = build_distillers(cfg)
    assert d.part_weights == {"fg": 5e-5, "bg": 2.5e-5, "attention": 5e-5, "global": 5e-7}
    assert d.box_scale == "stride"
