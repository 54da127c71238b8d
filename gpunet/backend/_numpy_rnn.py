"""The NumPy backend's recurrent gates (RNN / LSTM / GRU) ops (compiled CPU kernels where they pay): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._rnn_ops.RnnOps`).

One step is small (N·H units): it runs on the calling thread, one compiled pass instead of the reference's
dozen temporaries. Float32/float64 NumPy arrays only (the buffers the recurrent layer allocates); anything else,
or ``GPUNET_NUMBA=0``, goes to the reference.
"""
from __future__ import annotations

import numpy as np

from . import _numba, _parallel
from ._blas_threads import single_threaded

_F32 = np.dtype(np.float32)
_FLOATS = (_F32, np.dtype(np.float64))
_K = None


def _kernels():
    """The module :mod:`._cpu_rnn_kernels`, or None without Numba."""
    global _K
    if _K is None:
        if _numba.kernels() is None:
            return None
        from . import _cpu_rnn_kernels

        _K = _cpu_rnn_kernels
    return _K


def _ok(*arrays) -> bool:
    dt = arrays[0].dtype
    if dt not in _FLOATS:
        return False
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != dt:
            return False
    return True


# Rows of the batch per thread at least, and multiply-adds of one step's GEMM (all rows) at least, for the step
# loop to be split over the threads (one hand-off per layer, none per step).
RNN_SPLIT_MIN_ROWS = 4
RNN_SPLIT_MIN_MACS = 1 << 16


class NumpyRnn:
    """recurrent gates (RNN / LSTM / GRU) on the CPU."""

    def rnn_run_rows(self, steps, n, step_macs):
        """The rows split over the threads (each running the whole loop on one BLAS thread)."""
        parts = 1
        if step_macs >= RNN_SPLIT_MIN_MACS:
            parts = max(1, min(_parallel.NUM_THREADS, n // RNN_SPLIT_MIN_ROWS))
        with single_threaded():
            _parallel.run(lambda k, r0, r1: steps(r0, r1), n, parts)

    def rnn_step_forward(self, gx, gh, h, relu):
        K = _kernels()
        if K is not None and _ok(gx, gh, h):
            K.rnn_forward(gx, gh, h, bool(relu), h.dtype == _F32)
            return
        super().rnn_step_forward(gx, gh, h, relu)

    def rnn_step_backward(self, dy, dh_rec, h, dpre, relu):
        K = _kernels()
        if K is not None and _ok(dy, dh_rec, h, dpre):
            K.rnn_backward(dy, dh_rec, h, dpre, bool(relu))
            return
        super().rnn_step_backward(dy, dh_rec, h, dpre, relu)

    def lstm_step_forward(self, gx, gh, c_prev, gates, c, tc, h):
        K = _kernels()
        if K is not None and _ok(gx, gh, c_prev, gates, c, tc, h):
            K.lstm_forward(gx, gh, c_prev, gates, c, tc, h, h.dtype == _F32)
            return
        super().lstm_step_forward(gx, gh, c_prev, gates, c, tc, h)

    def lstm_step_backward(self, dy, dh_rec, dc, gates, c_prev, tc, dgates):
        K = _kernels()
        if K is not None and _ok(dy, dh_rec, dc, gates, c_prev, tc, dgates):
            K.lstm_backward(dy, dh_rec, dc, gates, c_prev, tc, dgates)
            return
        super().lstm_step_backward(dy, dh_rec, dc, gates, c_prev, tc, dgates)

    def gru_step_forward(self, gx, gh, b_hh, h_prev, gates, h):
        K = _kernels()
        if K is not None and _ok(gx, gh, b_hh, h_prev, gates, h):
            K.gru_forward(gx, gh, b_hh, h_prev, gates, h, h.dtype == _F32)
            return
        super().gru_step_forward(gx, gh, b_hh, h_prev, gates, h)

    def gru_step_backward(self, dy, dh_a, dh_b, gates, h_prev, dgi, dgh):
        K = _kernels()
        if K is not None and _ok(dy, dh_a, dh_b, gates, h_prev, dgi, dgh):
            K.gru_backward(dy, dh_a, dh_b, gates, h_prev, dgi, dgh)
            return
        super().gru_step_backward(dy, dh_a, dh_b, gates, h_prev, dgi, dgh)
