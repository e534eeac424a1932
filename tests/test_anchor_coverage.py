"""tools/anchor_coverage.py: hand-made anchors, and the digits RetinaNet configs' coverage."""

import pytest
import torch
from detectron2.modeling.matcher import Matcher
from detectron2.structures import Boxes

from .conftest import load_cfg, load_tool


@pytest.fixture(scope="module")
def tool():
    return load_tool("anchor_coverage")


def test_coverage_hand_computed(tool):
    anchors = Boxes(torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]]))
    matcher = Matcher([0.4, 0.5], [0, -1, 1], allow_low_quality_matches=True)
    gt = torch.tensor(
        [
            [0.0, 0, 10, 10],  # IoU 1 with anchor 0
            [20, 20, 30, 40],  # IoU 100 / 200 = 0.5 with anchor 1: covered (>=)
            [0, 0, 10, 30],  # IoU 100 / 300 with anchor 0: not covered
        ]
    )
    row = tool.coverage(anchors, [gt, torch.zeros(0, 4)], matcher)
    assert row["threshold"] == 0.5 and row["num_gt"] == 3
    assert row["covered"] == pytest.approx(2 / 3)
    # foreground anchors: 0 (to GT 0, and GT 2's low-quality match) and 1; anchor 2 is not
    assert row["positives_per_gt"] == pytest.approx(2 / 3)
    assert row["best_iou_median"] == pytest.approx(0.5)


def test_foreground_threshold_reads_the_matcher(tool):
    assert tool.foreground_threshold(Matcher([0.3, 0.7], [0, -1, 1])) == 0.7
    assert tool.foreground_threshold(Matcher([0.5], [0, 1])) == 0.5


@pytest.mark.parametrize("name", ["retinanet_R50_teacher", "retinanet_R18_student"])
def test_digits_retinanet_anchors_cover_the_val_boxes(tool, name):
    """The bar: >= 90% of digits_det_val GT boxes have an anchor at the matcher's
    foreground IoU (54% on the model zoo's p3-p7 levels)."""
    row = tool.config_coverage(load_cfg(f"digits/{name}.py"), "digits_det_val", (128, 128))
    assert row["num_gt"] == 2695
    assert row["covered"] >= 0.9 and row["positives_per_gt"] >= 5
