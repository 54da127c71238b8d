"""The reference recurrent gates (RNN / LSTM / GRU) ops of every backend: a mixin of :class:`~.base.Backend`, written against
``self.xp`` alone. The NumPy (:mod:`._numpy_rnn`) and CuPy (:mod:`._cupy_rnn`) mixins override what they speed up
and call ``super()`` for what they do not handle."""
from __future__ import annotations


class RnnOps:
    """Reference recurrent gates (RNN / LSTM / GRU) ops."""
