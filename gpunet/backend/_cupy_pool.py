"""The CuPy backend's pooling and upsampling ops (CUDA kernels of ``kernels/*.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`; ``super()`` is the reference (:class:`~._pool_ops.PoolOps`)."""
from __future__ import annotations


class CupyPool:
    """pooling and upsampling on the GPU."""
