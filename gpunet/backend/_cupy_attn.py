"""The CuPy backend's attention (scaled, masked softmax of the scores) ops (CUDA kernels of ``kernels/*.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`; ``super()`` is the reference (:class:`~._attn_ops.AttnOps`)."""
from __future__ import annotations


class CupyAttn:
    """attention (scaled, masked softmax of the scores) on the GPU."""
