"""``AutoCalibration``: the ``loss_weight="auto"`` window of a distilling meta-architecture's
distillers, measured on the losses of its training step, and the gradient ratios it logs every
``grad_log_period`` iterations.

It runs inside the model's training ``forward`` because detectron2's stock loops
(``SimpleTrainer``, ``AMPTrainer``, the LazyConfig ``do_train``) hand a hook neither the losses
nor their graph: the gradient norms must be taken before the step's own backward frees it.
"""

from __future__ import annotations

import torch

from ..distillers.base import Distiller
from ..distillers.checks import check_whole_number
from ..utils.events import current_storage
from ..utils.grads import grad_norm, student_parameters


class AutoCalibration:
    """Mixed into ``DistillMixin``: its host has ``distillers`` and ``_iteration()``, and calls
    :meth:`_init_grad_log` at construction."""

    def _init_grad_log(self, grad_log_period: int) -> None:
        self.grad_log_period = check_whole_number("grad_log_period", grad_log_period)

    def _log_grad_ratios(self, losses: dict[str, torch.Tensor]) -> None:
        """Every ``grad_log_period`` iterations (none when 0), the gradient norm that the
        summed detection losses and each distiller's weighted terms send into the student's
        parameters, and their ratio, as EventStorage scalars (``metrics.json``):
        ``relkd/grad/detection``, ``relkd/<name>/grad``, ``relkd/<name>/grad_ratio``. These are
        what the step's own backward gives the student (0 in a warm-up or an ``auto`` window),
        on this rank's batch. Extra backward passes, one plus one per distiller, on the logged
        steps only; the step itself is unchanged (``.grad`` is not touched)."""
        period = self.grad_log_period
        storage = current_storage()
        if not period or storage is None or not torch.is_grad_enabled():
            return
        if self._iteration() % period:
            return
        with torch.profiler.record_function("relkd/grad_log"):
            student = student_parameters(self)
            norms = [grad_norm(self._detection_loss(losses), student)]
            for d in self.distillers:
                terms = [losses[k] for k in d.loss_keys() if k in losses]
                norms.append(grad_norm(sum(terms), student) if terms else norms[0] * 0)
            values = torch.stack(norms).tolist()  # one host read, on the logged steps only
        det = values[0]
        storage.put_scalar("relkd/grad/detection", det, smoothing_hint=False)
        for d, value in zip(self.distillers, values[1:]):
            storage.put_scalar(f"relkd/{d.name}/grad", value, smoothing_hint=False)
            if det > 0:  # no ratio on a step whose detection losses send nothing
                storage.put_scalar(f"relkd/{d.name}/grad_ratio", value / det, smoothing_hint=False)

    def _detection_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """The sum of the step's losses that no distiller emits: the detector's own."""
        own = {k for d in self.distillers for k in d.loss_keys()}
        return sum(v for k, v in losses.items() if k not in own)

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
        student = student_parameters(self)
        with torch.profiler.record_function("relkd/auto_weight"):
            det_norm = grad_norm(self._detection_loss(losses), student)
            for d in distillers:
                trained = student + [p for p in d.parameters() if p.requires_grad]
                d.auto.observe(det_norm, trained, self._iteration())
