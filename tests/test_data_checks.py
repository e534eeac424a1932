"""Boxes that detectron2's mapper would drop silently are refused (inverted) or counted (empty)."""

import logging

import pytest
from detectron2.data import DatasetCatalog
from detectron2.structures import BoxMode

from relkd.data import register_digits_det
from relkd.data.checks import box_problems, check_boxes
from relkd.engine.loop import build_train_loader

from .conftest import load_cfg


def _record(name, *boxes, mode=BoxMode.XYXY_ABS):
    return {"file_name": name, "annotations": [{"bbox": b, "bbox_mode": mode} for b in boxes]}


def test_inverted_and_empty_boxes_are_counted_by_mode():
    dicts = [
        _record("a.png", [10, 10, 20, 30], [20, 10, 10, 30]),  # second: x2 < x1
        _record("b.png", [5, 5, -3, 4], mode=BoxMode.XYWH_ABS),  # negative width
        _record("c.png", [5, 5, 0, 4], mode=BoxMode.XYWH_ABS),  # zero width
        _record("d.png", [1, 1, 9, 1]),  # zero height
        {"file_name": "e.png"},  # no annotations
    ]
    p = box_problems(dicts)
    assert (p["boxes"], p["inverted"], p["empty"]) == (5, 2, 2)
    assert p["example"] == ("a.png", [20, 10, 10, 30])


def test_inverted_boxes_are_refused_with_count_and_example():
    dicts = [_record("x.png", [20, 10, 10, 30], [1, 2, 3, 4])]
    with pytest.raises(
        ValueError,
        match=r"1 of 2 boxes of the training set are inverted .*"
        r"\[20, 10, 10, 30\] in x.png.*bbox_mode",
    ):
        check_boxes(dicts)


def test_empty_boxes_warn_with_their_count(caplog):
    with caplog.at_level(logging.WARNING, logger="relkd"):
        check_boxes([_record("y.png", [1, 1, 1, 9], [1, 1, 5, 9])])
        check_boxes([_record("z.png", [1, 1, 5, 9])])  # nothing to say
    assert [r.getMessage()[:52] for r in caplog.records] == [
        "1 of 2 boxes of the training set have zero width or "
    ]


def test_the_training_loader_refuses_a_dataset_of_inverted_boxes():
    # every box inverted used to train with loss_box_reg 0 and no word in the log
    register_digits_det()
    name = "relkd_test_inverted"
    if name not in DatasetCatalog.list():
        good = DatasetCatalog.get("digits_det_train")[:4]

        def inverted():  # x1 and x2 swapped, in XYXY
            def flip(a):
                x1, y1, x2, y2 = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
                return dict(a, bbox=[x2, y1, x1, y2], bbox_mode=BoxMode.XYXY_ABS)

            return [dict(r, annotations=[flip(a) for a in r["annotations"]]) for r in good]

        DatasetCatalog.register(name, inverted)
    cfg = load_cfg("digits/retinanet_R18_student.py", f"dataloader.train.dataset.names={name}")
    with pytest.raises(ValueError, match="boxes of the training set are inverted"):
        build_train_loader(cfg, seed=0, start_iter=0)
