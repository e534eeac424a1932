"""Checks on dataset dicts before training: boxes that detectron2 would drop without a word.

detectron2's ``DatasetMapper`` keeps a box's corners as given when no augmentation reorders
them, then ``filter_empty_instances`` drops every box of zero or negative extent. A dataset
whose boxes are all inverted (x2 < x1, say a wrong ``bbox_mode``) then trains with
``loss_box_reg: 0`` and the log reports no removed images.
"""

from __future__ import annotations

import logging

from detectron2.structures import BoxMode

logger = logging.getLogger("relkd")


def _extent(bbox, mode: BoxMode) -> tuple[float, float]:
    """Width and height of an absolute XYXY or XYWH box (negative when inverted)."""
    if mode == BoxMode.XYWH_ABS:
        return bbox[2], bbox[3]
    return bbox[2] - bbox[0], bbox[3] - bbox[1]


def box_problems(dataset_dicts: list[dict]) -> dict:
    """Count the boxes of ``dataset_dicts`` that training would drop.

    Returns ``{"boxes": n, "inverted": n, "empty": n, "example": (file_name, bbox) | None}``:
    ``inverted`` boxes have a negative width or height in their ``bbox_mode`` (x2 < x1 or
    y2 < y1), ``empty`` ones a zero width or height; ``example`` is the first inverted box,
    else the first empty one. Only ``XYXY_ABS`` and ``XYWH_ABS`` boxes are checked (the modes
    detectron2's mapper converts).
    """
    out = {"boxes": 0, "inverted": 0, "empty": 0, "example": None}
    first_empty = None
    for record in dataset_dicts:
        for ann in record.get("annotations", ()):
            mode = BoxMode(ann.get("bbox_mode", BoxMode.XYXY_ABS))
            if mode not in (BoxMode.XYXY_ABS, BoxMode.XYWH_ABS):
                continue
            out["boxes"] += 1
            w, h = _extent(ann["bbox"], mode)
            if w < 0 or h < 0:
                out["inverted"] += 1
                if out["example"] is None:
                    out["example"] = (record.get("file_name"), list(ann["bbox"]))
            elif w == 0 or h == 0:
                out["empty"] += 1
                first_empty = first_empty or (record.get("file_name"), list(ann["bbox"]))
    out["example"] = out["example"] or first_empty
    return out


def check_boxes(dataset_dicts: list[dict], what: str = "the training set") -> None:
    """Raise ``ValueError`` when ``dataset_dicts`` holds inverted boxes; warn, with the count,
    when it holds boxes of zero width or height (both are dropped by detectron2's mapper)."""
    p = box_problems(dataset_dicts)
    if p["inverted"]:
        raise ValueError(
            f"{p['inverted']} of {p['boxes']} boxes of {what} are inverted (x2 < x1 or y2 < y1 "
            f"after their bbox_mode), e.g. {p['example'][1]} in {p['example'][0]}; detectron2 "
            "would drop them silently. Fix the dataset's bbox values or its bbox_mode"
        )
    if p["empty"]:
        logger.warning(
            f"{p['empty']} of {p['boxes']} boxes of {what} have zero width or height (e.g. "
            f"{p['example'][1]} in {p['example'][0]}); detectron2's mapper drops them"
        )
