"""The CuPy backend's convolution (im2col / col2im) ops (CUDA kernels of ``kernels/*.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`; ``super()`` is the reference (:class:`~._conv_ops.ConvOps`)."""
from __future__ import annotations


class CupyConv:
    """convolution (im2col / col2im) on the GPU."""
