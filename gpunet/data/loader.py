"""Datasets and the DataLoader: batches gathered on the host, moved to the device in one transfer per array."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor, as_tensor


def _host(a) -> np.ndarray:
    """A NumPy array with the contents of ``a`` (NumPy, CuPy, Tensor or sequence)."""
    if isinstance(a, Tensor):
        return a.numpy()
    if hasattr(a, "__cuda_array_interface__"):
        return a.get()
    return np.asarray(a)


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


def _collate(dataset, indices: np.ndarray) -> tuple:
    """The batch ``indices`` of ``dataset`` as a tuple of contiguous host arrays."""
    if hasattr(dataset, "gather"):
        batch = dataset.gather(indices)
    else:
        samples = [dataset[int(i)] for i in indices]
        if not isinstance(samples[0], tuple):
            samples = [(s,) for s in samples]
        batch = tuple(np.stack([_host(s[k]) for s in samples]) for k in range(len(samples[0])))
    return tuple(np.ascontiguousarray(_host(b)) for b in batch)


class DataLoader:
    """Mini-batches of a dataset as gpunet Tensors on the current backend's device (or ``device``).

    Batches follow the dataset's order unless ``shuffle`` (False by default, as ``torch.utils.data.DataLoader``;
    pass ``shuffle=True`` for training). With ``shuffle``, every epoch (each ``iter()``) draws a new permutation
    from the loader's own generator (seeded by ``seed``, or from :func:`gpunet.manual_seed` when ``seed`` is
    None), so samples are drawn WITHOUT replacement. The last short batch is kept unless ``drop_last``;
    ``len(loader)`` is the number of batches per epoch. Each array of a batch is gathered on the host and moved
    to the device in one transfer.

    :meth:`state_dict` / :meth:`load_state_dict` save and restore the epoch count and the generator state, so a
    run resumed between epochs sees exactly the batches it would have seen.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, device: str | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = device
        if seed is None:
            seed = int(_backend.host_rng().integers(2**63 - 1))
        self.seed = int(seed)
        self.generator = np.random.default_rng(self.seed)
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        return self.generator.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[tuple]:
        order = self._order()
        self.epoch += 1
        be = _backend.current() if self.device is None else _backend.get(self.device)
        return self._batches(order, be)

    def _batches(self, order: np.ndarray, be) -> Iterator[tuple]:
        bs = self.batch_size
        for b in range(len(self)):
            idx = order[b * bs:(b + 1) * bs]
            yield tuple(as_tensor(a, device=be.name) for a in _collate(self.dataset, idx))

    def state_dict(self) -> dict:
        """``{"epoch", "seed", "rng_state"}``: the epochs drawn so far and the generator state (JSON-able)."""
        return {"epoch": self.epoch, "seed": self.seed, "rng_state": self.generator.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`: the next epoch yields the batches the saved loader would have yielded."""
        try:
            rng_state = state["rng_state"]
            epoch = int(state["epoch"])
            self.generator.bit_generator.state = rng_state
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"DataLoader.load_state_dict: expected a dict from DataLoader.state_dict() with "
                             f"'epoch' and 'rng_state' ({type(self.generator.bit_generator).__name__}), "
                             f"got {state!r:.200}: {e}") from e
        self.epoch = epoch
        self.seed = int(state.get("seed", self.seed))
