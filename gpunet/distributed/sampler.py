"""DistributedSampler: each rank's share of a data set's indices, as ``torch.utils.data.DistributedSampler``."""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from . import _group

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` reads (pass it as
    ``DataLoader(..., sampler=...)``), split exactly as torch's: the (shuffled) index list is padded by repeating
    its start up to a multiple of ``num_replicas`` (``drop_last=True``: cut down to one instead), and rank ``r``
    takes every ``num_replicas``-th index from ``r``. With ``shuffle`` the order is a permutation drawn from
    ``seed + epoch`` (call ``set_epoch(epoch)`` at the start of every epoch; all ranks must use one seed). The
    permutation comes from NumPy's generator, so it differs from torch's ``randperm`` for the same seed; with
    ``shuffle=False`` the indices are torch's. ``num_replicas`` and ``rank`` default to the process group's.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            if not _group.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas= and rank=, or call "
                                   "gpunet.distributed.init_process_group() first")
            num_replicas = _group.get_world_size() if num_replicas is None else num_replicas
            rank = _group.get_rank() if rank is None else rank
        num_replicas, rank = int(num_replicas), int(rank)
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = bool(drop_last)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        n = len(dataset)
        if self.drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            idx = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            idx = np.arange(n)
        if not self.drop_last:
            pad = self.total_size - n
            if pad > 0:
                idx = np.concatenate([idx, np.resize(idx, pad)]) if n else idx
        else:
            idx = idx[:self.total_size]
        assert len(idx) == self.total_size
        idx = idx[self.rank:self.total_size:self.num_replicas]
        assert len(idx) == self.num_samples
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s permutation (with ``shuffle``): call it before each epoch's loop."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.seed = int(state.get("seed", self.seed))
