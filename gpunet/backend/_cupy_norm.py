"""The CuPy backend's layer / RMS / group normalisation and embedding ops (CUDA kernels of ``kernels/*.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`; ``super()`` is the reference (:class:`~._norm_ops.NormOps`)."""
from __future__ import annotations


class CupyNorm:
    """layer / RMS / group normalisation and embedding on the GPU."""
