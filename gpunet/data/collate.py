"""Batching samples, as ``torch.utils.data.default_collate``: arrays and numbers are stacked along a new first
axis; tuples, lists and dicts of them are batched field by field (a tuple of samples gives a tuple of batches, a
dict gives a dict). Everything stays on the host here; the loader moves the arrays to the device."""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Tensor

__all__ = ["default_collate"]


def _host(a) -> np.ndarray:
    """A NumPy array with the contents of ``a`` (NumPy, CuPy, Tensor or sequence)."""
    if isinstance(a, Tensor):
        return a.numpy()
    if hasattr(a, "__cuda_array_interface__"):
        return a.get()
    return np.asarray(a)


def default_collate(samples: list):
    """One batch from a list of samples of the same structure."""
    first = samples[0]
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (tuple, list)):
        n = len(first)
        if any(len(s) != n for s in samples):
            raise RuntimeError("default_collate: each element in a batch should be of equal size")
        return tuple(default_collate([s[k] for s in samples]) for k in range(n))
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, numbers.Number) or hasattr(first, "shape") or isinstance(first, Tensor):
        return np.stack([_host(s) for s in samples])  # Python floats give float64, ints int64, as torch's
    raise TypeError(f"default_collate: samples must contain arrays, numbers, dicts, tuples or lists; found "
                    f"{type(first).__name__}")


def gather_batch(dataset, indices: np.ndarray):
    """The batch ``indices`` of ``dataset``: one vectorised ``gather`` where the dataset has one (host arrays,
    C-contiguous), else :func:`default_collate` of the samples."""
    gather = getattr(dataset, "gather", None)
    batch = gather(indices) if gather is not None else None
    if batch is None:
        return default_collate([dataset[int(i)] for i in indices])
    return tuple(np.ascontiguousarray(_host(b)) for b in batch)
