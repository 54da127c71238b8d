"""The CuPy backend's recurrent gates (RNN / LSTM / GRU) ops (CUDA kernels of ``kernels/*.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`; ``super()`` is the reference (:class:`~._rnn_ops.RnnOps`)."""
from __future__ import annotations


class CupyRnn:
    """recurrent gates (RNN / LSTM / GRU) on the GPU."""
