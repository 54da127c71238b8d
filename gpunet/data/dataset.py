"""Datasets (as ``torch.utils.data``): ``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset`` and
``random_split``. Samples stay on the host; the DataLoader moves each batch to the device in one transfer."""
from __future__ import annotations

import bisect
import math

import numpy as np

from .. import backend as _backend
from .collate import _host

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """Anything with ``__len__`` and ``__getitem__(i)`` returning a sample (an array or a tuple of arrays).

    Datasets that can gather many samples at once implement ``gather(indices)`` returning a tuple of host
    arrays with the batch along axis 0; the DataLoader then skips the per-sample loop.
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the rows of ``arrays`` (NumPy, CuPy or Tensors; kept on the host), e.g. ``(X, y)``."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array, e.g. TensorDataset(X, y)")
        self.arrays = tuple(_host(a) for a in arrays)
        for i, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: array {i} is a scalar; every array needs a first (sample) axis")
        n = self.arrays[0].shape[0]
        bad = [(i, a.shape[0]) for i, a in enumerate(self.arrays) if a.shape[0] != n]
        if bad:
            sizes = [a.shape[0] for a in self.arrays]
            raise ValueError(f"TensorDataset: all arrays must have the same first dimension (number of samples), "
                             f"got {sizes}; array {bad[0][0]} has {bad[0][1]} rows but array 0 has {n}")

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def gather(self, indices: np.ndarray) -> tuple:
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order (as ``torch.utils.data.Subset``)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must be in [{-n}, {n - 1}] for a dataset of {n} samples")

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):
            return [self.dataset[int(self.indices[i])] for i in index]
        return self.dataset[int(self.indices[index])]

    def gather(self, indices: np.ndarray):
        """The batch in one gather when the dataset can gather (None otherwise: the loader goes per sample)."""
        if not hasattr(self.dataset, "gather"):
            return None
        return self.dataset.gather(self.indices[indices])


class ConcatDataset(Dataset):
    """The datasets one after another (as ``torch.utils.data.ConcatDataset``); also ``a + b`` of Datasets."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for {n} samples")
        index %= n
        d = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][index - start]


Dataset.__add__ = lambda self, other: ConcatDataset([self, other])


def random_split(dataset, lengths, generator=None) -> list:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given ``lengths`` (counts that add
    up to ``len(dataset)``, or fractions that add up to 1: floors, the remainder handed out one by one from the
    first, as torch). ``generator``: a ``numpy.random.Generator`` or a seed (default: from ``gn.manual_seed``)."""
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} add up to {sum(lengths)}, but the dataset has {n} "
                         f"samples; give counts that add up to {n}, or fractions that add up to 1")
    perm = _generator(generator, "random_split").permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start:start + k]))
        start += k
    return out


def _generator(generator, op: str) -> np.random.Generator:
    if generator is None:
        return np.random.default_rng(int(_backend.host_rng().integers(2**63 - 1)))
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"{op}: generator must be a numpy.random.Generator or an int seed, got "
                    f"{type(generator).__name__} (a torch.Generator does not drive gpunet's sampling)")
