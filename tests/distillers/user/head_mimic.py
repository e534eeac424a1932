"""A user's own distiller, in a file of its own: it extends relkd without editing it.

``HeadMimic`` reads three things relkd's meta-architectures were not written for: the calls of
the student's RetinaNet class-score conv (a recorded submodule), the teacher's frozen model (to
run the teacher's head on its own features) and ``"gt_count"``, an input kind this file
registers. Its one term: the squared difference of the two heads' class probabilities, averaged
over every logit, divided by ``1 + gt_count``.
"""

from __future__ import annotations

import torch

from relkd.distillers import DISTILLER_REGISTRY, INPUT_KINDS, Distiller, Requirements


@INPUT_KINDS.register("gt_count")
def gt_count(step) -> int:
    """The number of ground-truth boxes in the batch."""
    return sum(len(x) for x in step.gt_instances)


@DISTILLER_REGISTRY.register()
class HeadMimic(Distiller):
    """Class-probability mimicking of a RetinaNet head (one term, ``loss_head_mimic_probs``);
    ``levels``: the head's levels, in its order."""

    def __init__(
        self, *, levels=("p3", "p4", "p5", "p6", "p7"), loss_weight: float = 1.0, name="head_mimic"
    ):
        super().__init__(loss_weight=loss_weight)
        self.levels = tuple(levels)
        self.name = name

    def terms(self) -> list[str]:
        return ["probs"]

    def required_features(self) -> Requirements:
        return Requirements(
            teacher=self.levels,
            inputs=("teacher_model", "gt_count"),
            student_modules=("head.cls_score",),
        )

    def compute(self, inputs) -> dict[str, torch.Tensor]:
        student = [c.output for c in inputs.student_modules["head.cls_score"]]
        head = inputs.get("teacher_model").head
        with torch.no_grad():
            teacher, _ = head([inputs.teacher_features[n] for n in self.levels])
        diffs = [(s.sigmoid() - t.sigmoid()).pow(2).flatten() for s, t in zip(student, teacher)]
        return {"probs": torch.cat(diffs).mean() / (1 + inputs.get("gt_count"))}
