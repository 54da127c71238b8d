"""GPU backend: CuPy. Imported only after :func:`gpunet.backend.cupy_status` found a usable device."""
from __future__ import annotations

import numpy as np

from .base import Backend


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self, cupy):
        super().__init__(cupy)
        self.device = f"cuda:{cupy.cuda.Device().id}"

    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        if isinstance(a, self.xp.ndarray):
            return a.get()
        return np.asarray(a)

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()

    def scatter_add(self, target, index, values) -> None:
        import cupyx

        cupyx.scatter_add(target, index, values)

    def rng(self):
        if self._rng is None:
            self._rng = self.xp.random.RandomState(self._seed)
        return self._rng

    def rand(self, shape, dtype):
        return self.rng().random_sample(shape, dtype=dtype)

    def randn(self, shape, dtype):
        return self.rng().standard_normal(shape, dtype=dtype)
