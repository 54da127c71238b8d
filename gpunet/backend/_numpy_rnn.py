"""The NumPy backend's recurrent gates (RNN / LSTM / GRU) ops (compiled CPU kernels where they pay): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._rnn_ops.RnnOps`)."""
from __future__ import annotations


class NumpyRnn:
    """recurrent gates (RNN / LSTM / GRU) on the CPU."""
