"""CPU backend: NumPy."""
from __future__ import annotations

import numpy as np

from .base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"

    def __init__(self):
        super().__init__(np)

    def is_array(self, a) -> bool:
        return isinstance(a, np.ndarray)

    def asarray(self, data, dtype=None):
        if hasattr(data, "__cuda_array_interface__"):  # a CuPy array: bring it to the host
            data = data.get()
        return np.asarray(data, dtype=dtype)

    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    def rand(self, shape, dtype):
        dtype = np.dtype(dtype)
        if dtype in (np.float32, np.float64):
            return self.rng().random(shape, dtype=dtype)
        return self.rng().random(shape).astype(dtype)

    def randn(self, shape, dtype):
        dtype = np.dtype(dtype)
        if dtype in (np.float32, np.float64):
            return self.rng().standard_normal(shape, dtype=dtype)
        return self.rng().standard_normal(shape).astype(dtype)
