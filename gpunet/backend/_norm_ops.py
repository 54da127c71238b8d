"""The reference layer / RMS / group normalisation and embedding ops of every backend: a mixin of :class:`~.base.Backend`, written against
``self.xp`` alone. The NumPy (:mod:`._numpy_norm`) and CuPy (:mod:`._cupy_norm`) mixins override what they speed up
and call ``super()`` for what they do not handle."""
from __future__ import annotations


class NormOps:
    """Reference layer / RMS / group normalisation and embedding ops."""
