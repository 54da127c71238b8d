"""The NumPy backend's convolution (im2col / col2im) ops (compiled CPU kernels where they pay): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._conv_ops.ConvOps`)."""
from __future__ import annotations


class NumpyConv:
    """convolution (im2col / col2im) on the CPU."""
