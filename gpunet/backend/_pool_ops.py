"""The reference pooling and upsampling ops of every backend: a mixin of :class:`~.base.Backend`, written against
``self.xp`` alone. The NumPy (:mod:`._numpy_pool`) and CuPy (:mod:`._cupy_pool`) mixins override what they speed up
and call ``super()`` for what they do not handle."""
from __future__ import annotations


class PoolOps:
    """Reference pooling and upsampling ops."""
