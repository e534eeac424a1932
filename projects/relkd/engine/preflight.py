"""Teacher preflight: evaluate the teacher on a few validation images before training.

A teacher that was never trained, was trained on other classes, or reads images in another
channel order still produces features, and distillation from it fails silently: the student
just gets worse. The preflight evaluates it with the run's own evaluator on the first
``num_images`` validation images and refuses to start when its box AP is below ``min_ap``.

Configured by ``train.teacher_preflight = dict(enabled=..., num_images=..., min_ap=...)``.
"""

from __future__ import annotations

import logging
import math

import torch
from detectron2.config import instantiate
from detectron2.evaluation import DatasetEvaluator, inference_on_dataset
from detectron2.utils import comm

from ..distillers.checks import check_whole_number

logger = logging.getLogger(__name__)


class TeacherPreflightError(RuntimeError):
    """The teacher's validation AP is below ``train.teacher_preflight.min_ap``."""


class _FirstBatches:
    """The first ``n`` batches of a loader, with a length for ``inference_on_dataset``."""

    def __init__(self, loader, n: int):
        self.loader, self.n = loader, n

    def __len__(self) -> int:
        return min(self.n, len(self.loader))

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i >= self.n:
                return
            yield batch


class _OnSeenImages(DatasetEvaluator):
    """Evaluate only the images that were seen (COCOEvaluator's ``img_ids``)."""

    def __init__(self, inner: DatasetEvaluator):
        self.inner, self.ids = inner, []

    def reset(self):
        self.ids = []
        self.inner.reset()

    def process(self, inputs, outputs):
        self.ids.extend(x["image_id"] for x in inputs)
        self.inner.process(inputs, outputs)

    def evaluate(self):
        ids = [i for part in comm.all_gather(self.ids) for i in part]
        try:
            return self.inner.evaluate(img_ids=ids)
        except TypeError:  # an evaluator without img_ids
            return self.inner.evaluate()


class _TeacherInStudentFormat(torch.nn.Module):
    """The teacher detector fed the student's dataset dicts (``Teacher.in_teacher_format``
    turns each image into the teacher's channel order)."""

    def __init__(self, teacher):
        super().__init__()
        self.teacher = teacher
        self.model = teacher.prepare()
        self.eval()  # inference_on_dataset restores this mode afterwards: keep the teacher eval

    def forward(self, inputs):
        inputs = [{**d, "image": self.teacher.in_teacher_format(d["image"])} for d in inputs]
        with self.teacher.precision():  # as it will run in training (Teacher's dtype)
            return self.model(inputs)


def teacher_preflight(cfg, model) -> float | None:
    """Evaluate ``model.teacher``; return its box AP, ``None`` if disabled or not applicable.

    Raises:
        TeacherPreflightError: when the AP is below ``min_ap``.
    """
    opts = cfg.train.get("teacher_preflight") or {}
    teacher = getattr(getattr(model, "module", model), "teacher", None)
    if not opts.get("enabled", False) or teacher is None:
        return None
    if cfg.dataloader.get("evaluator") is None:
        logger.warning("Teacher preflight skipped: cfg.dataloader.evaluator is not set")
        return None
    num_images, min_ap = opts.get("num_images", 100), opts.get("min_ap", 1.0)
    try:
        num_images = check_whole_number("train.teacher_preflight.num_images", num_images, 1)
    except ValueError as e:
        raise ValueError(
            f"{e} (to skip the preflight, set train.teacher_preflight.enabled=False)"
        ) from None
    min_ap = float(min_ap)
    loader = instantiate(cfg.dataloader.test)
    batch = getattr(loader, "batch_size", None) or 1
    subset = _FirstBatches(loader, math.ceil(num_images / (batch * comm.get_world_size())))
    evaluator = _OnSeenImages(instantiate(cfg.dataloader.evaluator))
    results = inference_on_dataset(_TeacherInStudentFormat(teacher), subset, evaluator)
    ap = comm.all_gather((results or {}).get("bbox", {}).get("AP"))[0]
    seen = sum(comm.all_gather(len(evaluator.ids)))  # fewer than asked on a small set
    if ap is None or (isinstance(ap, float) and math.isnan(ap)):
        ap = 0.0
    precision = teacher.dtype or "the caller's precision"
    logger.info(f"Teacher preflight: box AP {ap:.2f} on {seen} validation images ({precision})")
    if ap < min_ap:
        raise TeacherPreflightError(
            f"Teacher preflight: the teacher's box AP is {ap:.2f} on the first {seen} "
            f"validation images, below train.teacher_preflight.min_ap={min_ap}. It looks "
            f"untrained or mismatched (weights {teacher.weights!r}: other classes, another "
            "input format or pixel statistics?). Fix model.teacher, or set "
            "train.teacher_preflight.enabled=False to distill from it anyway."
        )
    return ap
