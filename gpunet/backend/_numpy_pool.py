"""The NumPy backend's pooling and upsampling ops (compiled CPU kernels where they pay): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._pool_ops.PoolOps`)."""
from __future__ import annotations


class NumpyPool:
    """pooling and upsampling on the CPU."""
