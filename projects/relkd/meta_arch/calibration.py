"""``AutoCalibration``: the ``loss_weight="auto"`` window of a distilling meta-architecture's
distillers, measured on the losses of its training step.

It runs inside the model's training ``forward`` because detectron2's stock loops
(``SimpleTrainer``, ``AMPTrainer``, the LazyConfig ``do_train``) hand a hook neither the losses
nor their graph: the gradient norms must be taken before the step's own backward frees it.
"""

from __future__ import annotations

import torch

from ..distillers.base import Distiller
from ..utils.grads import grad_norm, student_parameters


class AutoCalibration:
    """Mixed into ``DistillMixin``: its host has ``distillers`` and ``_iteration()``."""

    def _calibrate_pending(self, losses: dict[str, torch.Tensor]) -> None:
        """One window step of every ``loss_weight="auto"`` distiller still in its window
        (nothing once every window has ended)."""
        calibrating = [d for d in self.distillers if d.auto is not None and d.auto.pending]
        if calibrating:
            self._calibrate(losses, calibrating)

    def _calibrate(self, losses: dict[str, torch.Tensor], distillers: list[Distiller]) -> None:
        """One step of the ``loss_weight="auto"`` window of each of ``distillers``: the
        gradient norm of the summed detection losses on the student's parameters, and that of
        each distiller's unweighted terms on the parameters they train, the student's and the
        distiller's own (adapters, relation units). Its own count because an adapter starts
        near zero (FGFI's, std 1e-4): until it has learnt, the terms send the student a small
        fraction of what they will, and a weight set from the student's share alone would be
        far too large (docs/distillers.md, "What R counts"). Extra backward passes, one plus
        one per distiller; the graph is kept for the step's own backward."""
        own = {k for d in self.distillers for k in d.loss_keys()}
        detection = [v for k, v in losses.items() if k not in own]
        student = student_parameters(self)
        with torch.profiler.record_function("relkd/auto_weight"):
            det_norm = grad_norm(sum(detection), student)
            for d in distillers:
                trained = student + [p for p in d.parameters() if p.requires_grad]
                d.auto.observe(det_norm, trained, self._iteration())
