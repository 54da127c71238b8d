"""The reference convolution (im2col / col2im) ops of every backend: a mixin of :class:`~.base.Backend`, written against
``self.xp`` alone. The NumPy (:mod:`._numpy_conv`) and CuPy (:mod:`._cupy_conv`) mixins override what they speed up
and call ``super()`` for what they do not handle."""
from __future__ import annotations


class ConvOps:
    """Reference convolution (im2col / col2im) ops."""
