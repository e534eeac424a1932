"""A training sampler that continues its index stream where a resumed run left off."""

from __future__ import annotations

import itertools

from detectron2.data.samplers import TrainingSampler


class ResumableTrainingSampler(TrainingSampler):
    """detectron2's ``TrainingSampler`` (infinite, shuffled, sharded by rank) that skips the
    first ``start`` indices of this rank's stream.

    A run resumed at iteration ``N`` with ``start = N * batch_size_per_rank`` and the same
    ``seed`` therefore sees exactly the batches an uninterrupted run would have seen (with
    ``num_workers`` 0 or 1, or any ``N`` that is a multiple of ``num_workers``).

    Args:
        size: dataset length.
        shuffle: shuffle every epoch.
        seed: shuffling seed; give the same one to the interrupted and the resumed run.
        start: number of this rank's indices to skip.
    """

    def __init__(self, size: int, shuffle: bool = True, seed: int | None = None, start: int = 0):
        super().__init__(size, shuffle=shuffle, seed=seed)
        if start < 0:
            raise ValueError(f"ResumableTrainingSampler: start must be >= 0, got {start}")
        self.start = int(start)

    def __iter__(self):
        yield from itertools.islice(super().__iter__(), self.start, None)
