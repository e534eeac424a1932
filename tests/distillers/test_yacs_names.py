"""PKD, CWD and MGD by name through the yacs entry point (``cfg.RELKD.DISTILLERS``)."""

import pytest
from detectron2.config import CfgNode, get_cfg

from relkd import add_relkd_config
from relkd.distillers import CWD, MGD, PKD
from relkd.meta_arch.yacs import build_distillers


@pytest.mark.parametrize(
    "name, cls, args, attr, value",
    [
        ("PKD", PKD, {"STUDENT_FEATURES": ["p2", "p3"], "LOSS_WEIGHT": 6.0}, "loss_weight", 6.0),
        ("CWD", CWD, {"STUDENT_FEATURES": ["p3"], "TAU": 4.0}, "tau", 4.0),
        ("MGD", MGD, {"STUDENT_FEATURES": ["p2"], "LAMBDA_MGD": 0.45}, "lambda_mgd", 0.45),
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
