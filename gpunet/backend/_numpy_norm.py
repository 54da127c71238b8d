"""The NumPy backend's layer / RMS / group normalisation and embedding ops (compiled CPU kernels where they pay): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._norm_ops.NormOps`)."""
from __future__ import annotations


class NumpyNorm:
    """layer / RMS / group normalisation and embedding on the CPU."""
