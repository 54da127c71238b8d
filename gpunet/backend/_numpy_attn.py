"""The NumPy backend's attention (scaled, masked softmax of the scores) ops (compiled CPU kernels where they pay): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._attn_ops.AttnOps`)."""
from __future__ import annotations


class NumpyAttn:
    """attention (scaled, masked softmax of the scores) on the CPU."""
