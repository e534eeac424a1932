"""``loss_weight="auto"``: a distiller's weight measured from gradient norms, then frozen.

After the distiller's warm-up, for ``window`` iterations, the meta-architecture measures on
each batch the gradient norm that the detection losses send into the student's parameters
(``D``) and the one that the distiller's unweighted terms send (``R``; the terms keep the
relative weights the distiller gives them). Meanwhile the terms are multiplied by 0, as in the
warm-up. Then the weight becomes ``target_ratio * sum(D) / sum(R)``: the distiller's gradient
norm is ``target_ratio`` times the detection one, on average over the window. Sums run over
the window and, under DDP, over every rank (one all-reduce), so every rank sets the same
weight. With ``per_term=True`` each term gets a weight of its own, set so that its gradient
norm is ``target_ratio / n_terms`` times the detection one.

With ``track=K`` (``auto_track`` of a distiller) the weight is not frozen: from then on, the
iterations whose number modulo ``K`` is below ``window`` form a new window, in which the terms
keep their current weight while their unweighted gradient norm is measured as before; at its
end the weight is set again from that window's sums alone. The ratio is then held near
``target_ratio`` through training, where a frozen weight lets it drift as the detection
gradient shrinks.

The weight and the window's sums are buffers: checkpoints hold them, ``--resume`` restores
them (a run resumed in the window continues its sums). A window in which the distiller's
terms send no gradient at all (every batch without boxes, say) is extended, up to
``MAX_WINDOWS`` windows, then the run stops with an error rather than train a distiller whose
weight could not be measured.
"""

from __future__ import annotations

import logging

import torch
import torch.distributed as dist
from detectron2.utils import comm
from torch import nn

from ..utils.events import current_storage
from ..utils.grads import grad_norm

logger = logging.getLogger("relkd")

# a window with no measurable distillation gradient is extended; after this many windows the
# run stops (auto weighting cannot work for that distiller on that data)
MAX_WINDOWS = 10


class AutoWeight(nn.Module):
    """The measured weight of one distiller (a submodule of it, so its buffers are part of the
    model's ``state_dict``).

    Args:
        owner: the distiller's name, for messages and event keys.
        terms: the distiller's term names, in the order its ``compute`` returns them.
        target_ratio: distillation gradient norm / detection gradient norm to aim for (> 0).
        window: iterations measured after the warm-up (>= 1).
        per_term: one weight per term instead of one for all of them.
        track: 0 (the weight is frozen once set), or the period ``K`` (>= ``window``) of the
            windows that set it again.

    Buffers:
        weight: ``(T,)`` (``T`` = number of terms with ``per_term``, else 1); 0 until set.
        det_sum: ``()`` the summed detection gradient norms of the window.
        term_sum: ``(T,)`` the summed distillation gradient norms of the window.
        measured: ``()`` how many batches gave finite norms (a non-finite one is left out).
        seen: ``()`` how many iterations of the window have passed.
        ready: ``()`` bool, whether ``weight`` is set (frozen unless ``track``).
    """

    def __init__(
        self,
        owner: str,
        terms: list[str],
        *,
        target_ratio: float,
        window: int,
        per_term: bool,
        track: int = 0,
    ):
        super().__init__()
        self.owner = owner
        self.terms = list(terms)
        self.target_ratio = float(target_ratio)
        self.window = int(window)
        self.per_term = bool(per_term)
        self.track = int(track)
        if self.track and self.track < self.window:
            raise ValueError(
                f"{owner}: auto_track ({self.track}) must be 0 or at least auto_window "
                f"({self.window}): it is the period of the windows that set the weight again"
            )
        n = len(self.terms) if self.per_term else 1
        self.register_buffer("weight", torch.zeros(n))
        self.register_buffer("det_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("term_sum", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("measured", torch.zeros((), dtype=torch.long))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))
        # host copies of `seen` and `ready`, so that a training step never reads the device
        # to know whether it is in the window (synchronised when a state_dict is loaded)
        self._seen = 0
        self._ready = False
        self._warned = False
        self.pending: dict[str, torch.Tensor] | None = None  # this step's unweighted terms

    @property
    def is_set(self) -> bool:
        """Whether the window has ended and ``weight`` is set (read on the host)."""
        return self._ready

    def weigh(
        self, terms: dict[str, torch.Tensor], active: bool, iteration: int = 0
    ) -> dict[str, torch.Tensor]:
        """``terms`` (unweighted, ``{term: ()}``) weighted, ``{term: ()}``: by 0 before the
        warm-up ends and in the first window, by ``weight`` after it. In a window (the first,
        or with ``track`` one of the later ones, from ``iteration``) the unweighted terms are
        kept for :meth:`observe`."""
        if self.pending is not None:
            raise RuntimeError(
                f"{self.owner}: loss_weight='auto' kept the terms of the previous training step "
                "for its calibration, but nothing measured them; train the distiller inside a "
                "relkd distilling meta-architecture (DistillRetinaNet, DistillRCNN, "
                "DistillDABDETR), or give it a numeric loss_weight"
            )
        in_window = not self._ready or (self.track and iteration % self.track < self.window)
        if active and in_window and torch.is_grad_enabled():
            self.pending = dict(terms)
        if self._ready:
            # a copy: a tracking window's end sets the buffer in place during this step, and
            # the step's backward still needs the weight it multiplied by
            weight = self.weight.clone()
            if self.per_term:
                return {k: v * weight[self.terms.index(k)] for k, v in terms.items()}
            return {k: v * weight[0] for k, v in terms.items()}
        return {k: v * 0.0 for k, v in terms.items()}

    def observe(self, det_norm: torch.Tensor, params: list[nn.Parameter], iteration: int) -> None:
        """Add this step's norms to the window (the pending terms' norms on ``params``, and
        ``det_norm``, ``()``, the detection losses' one); at the window's end, set the weight."""
        terms, self.pending = self.pending, None
        if terms is None:
            return
        if self.per_term:
            norms = torch.stack([grad_norm(terms[k], params) for k in self.terms])
        else:
            norms = grad_norm(sum(terms.values()), params).reshape(1)
        norms = norms.to(self.term_sum)
        det = det_norm.to(self.det_sum)
        # a batch whose norms are not finite is left out of the window (no host read here)
        ok = torch.isfinite(det) & torch.isfinite(norms).all()
        self.det_sum += torch.where(ok, det, torch.zeros_like(det))
        self.term_sum += torch.where(ok, norms, torch.zeros_like(norms))
        self.measured += ok.long()
        self._seen += 1
        self.seen.fill_(self._seen)
        if self._seen % self.window == 0:  # the end of a window (or of an extension)
            self._close(iteration)
            # once the weight is set, each tracking window sums afresh; before, an extended
            # first window keeps its sums and its count towards MAX_WINDOWS
            if self.track and self._ready:
                for sums in (self.det_sum, self.term_sum, self.measured, self.seen):
                    sums.zero_()
                self._seen = 0

    def _close(self, iteration: int) -> None:
        """Set the weight from the window's sums, reduced over ranks (every rank calls this at
        the same step, since every rank observes every step); or extend the window."""
        sums = torch.cat([self.det_sum.reshape(1), self.term_sum, self.measured.reshape(1)])
        sums = sums.double()
        if comm.get_world_size() > 1:
            dist.all_reduce(sums)
        values = sums.tolist()  # the window's one host read
        det, terms, measured = values[0], values[1:-1], int(values[-1])
        if measured == 0 or min(terms) <= 0.0:
            if self._ready:  # a later window with nothing to measure keeps the weight it has
                logger.warning(
                    f"{self.owner}: loss_weight='auto' measured no distillation gradient in its "
                    f"window up to iteration {iteration}; the weight stays {self.weight.tolist()}"
                )
                return
            self._extend(iteration, measured, terms)
            return
        n = len(terms)
        per = self.target_ratio / n if self.per_term else self.target_ratio
        weights = [per * det / t for t in terms]
        self.weight.copy_(torch.tensor(weights, dtype=self.weight.dtype))
        self.ready.fill_(True)
        self._ready = True
        names = self.terms if self.per_term else ["all terms"]
        text = ", ".join(f"{k} {w:.4g}" for k, w in zip(names, weights))
        logger.info(
            f"{self.owner}: loss_weight='auto' set at iteration {iteration} from {measured} "
            f"measured batches (all ranks): mean detection gradient norm {det / measured:.4g}, "
            f"mean unweighted distillation gradient norm "
            f"{', '.join(f'{t / measured:.4g}' for t in terms)}; target_ratio "
            f"{self.target_ratio:g} -> weight {text}"
        )
        storage = current_storage()
        if storage is not None:
            prefix = f"relkd/{self.owner}/auto"
            storage.put_scalar(f"{prefix}/det_grad", det / measured, smoothing_hint=False)
            for name, t, w in zip(names, terms, weights):
                key = prefix if not self.per_term else f"{prefix}/{name}"
                storage.put_scalar(f"{key}/grad", t / measured, smoothing_hint=False)
                storage.put_scalar(f"{key}/weight", w, smoothing_hint=False)

    def _extend(self, iteration: int, measured: int, terms: list[float]) -> None:
        """No usable gradient yet: measure another window, or stop after ``MAX_WINDOWS``."""
        if self._seen >= MAX_WINDOWS * self.window:
            raise RuntimeError(
                f"{self.owner}: loss_weight='auto' measured no distillation gradient in "
                f"{self._seen} iterations up to iteration {iteration} ({measured} batches with "
                f"finite norms; summed norms {terms}): the distiller sends the student nothing "
                "to weigh on this data. Check its features and masks, or give it a numeric "
                "loss_weight"
            )
        if not self._warned:
            logger.warning(
                f"{self.owner}: loss_weight='auto' measured no distillation gradient in its "
                f"{self._seen} iterations up to iteration {iteration}; measuring on"
            )
            self._warned = True

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._seen = int(self.seen.item())
        self._ready = bool(self.ready.item())
