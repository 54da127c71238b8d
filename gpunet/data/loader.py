"""The DataLoader: batches gathered on the host, moved to the device in one transfer per array."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from .. import backend as _backend
from ..autograd import as_tensor
from .collate import default_collate, gather_batch
from .dataset import Dataset, TensorDataset, _generator  # noqa: F401  (Dataset, TensorDataset: re-exported)


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

    PyTorch's arguments: ``sampler`` (any iterable of indices with a length; excludes ``shuffle``),
    ``collate_fn`` (gets the list of samples; the host arrays in what it returns become Tensors), ``generator``
    (a ``numpy.random.Generator`` or a seed, in place of ``seed``). Samples that are dicts or tuples batch field by
    field (:func:`default_collate`); a dataset with ``gather(indices)`` is batched in one vectorised call.
    ``num_workers`` is accepted and does nothing: batches are gathered in this process (a gather is one fancy
    index per array, faster than handing samples between processes). ``pin_memory``, ``timeout``,
    ``worker_init_fn``, ``prefetch_factor`` and ``persistent_workers`` are accepted for the same reason;
    ``batch_sampler`` is refused.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor=None, persistent_workers: bool = False,
                 pin_memory_device: str = "", seed: int | None = None, device: str | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            raise NotImplementedError("DataLoader: batch_sampler is not supported; pass sampler= and batch_size=")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative integer, got {num_workers!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.collate_fn = collate_fn
        self.num_workers = num_workers  # accepted; batches are gathered in this process (see the class notes)
        self.drop_last = bool(drop_last)
        self.device = device
        if generator is not None:
            if seed is not None:
                raise ValueError("DataLoader: give generator or seed, not both")
            self.generator = _generator(generator, "DataLoader")
            self.seed = None
        else:
            if seed is None:
                seed = int(_backend.host_rng().integers(2**63 - 1))
            self.seed = int(seed)
            self.generator = np.random.default_rng(self.seed)
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)
        return self.generator.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[tuple]:
        order = self._order()
        self.epoch += 1
        be = _backend.current() if self.device is None else _backend.get(self.device)
        return self._batches(order, be)

    def _batches(self, order: np.ndarray, be) -> Iterator:
        bs = self.batch_size
        n = len(order) // bs if self.drop_last else math.ceil(len(order) / bs)
        for b in range(n):
            idx = order[b * bs:(b + 1) * bs]
            if self.collate_fn is None:
                batch = gather_batch(self.dataset, idx)
            else:
                batch = self.collate_fn([self.dataset[int(i)] for i in idx])
            yield _to_device(batch, be.name)

    def state_dict(self) -> dict:
        """``{"epoch", "seed", "rng_state"}``: the epochs drawn so far and the generator state (JSON-able; a
        ``sampler``'s own state is the sampler's to keep)."""
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


def _to_device(batch, device: str):
    """Every host array in ``batch`` (nested tuples, lists, dicts) as a Tensor on ``device``; other values stay."""
    if isinstance(batch, np.ndarray) or hasattr(batch, "__cuda_array_interface__"):
        return as_tensor(batch, device=device)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


__all__ = ["DataLoader", "Dataset", "TensorDataset", "default_collate"]
