"""The reference attention (scaled, masked softmax of the scores) ops of every backend: a mixin of :class:`~.base.Backend`, written against
``self.xp`` alone. The NumPy (:mod:`._numpy_attn`) and CuPy (:mod:`._cupy_attn`) mixins override what they speed up
and call ``super()`` for what they do not handle."""
from __future__ import annotations


class AttnOps:
    """Reference attention (scaled, masked softmax of the scores) ops."""
