"""The CuPy backend's recurrent gates (RNN / LSTM / GRU) ops (CUDA kernels of ``kernels/rnn.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`, which supplies ``xp`` and the guard ``_fusable``; ``super()`` is the reference
(:class:`~._rnn_ops.RnnOps`), for what the kernels do not handle (another dtype, a non-contiguous array).

One launch per step each way, a 1-D grid over the step's N·H units (:func:`._cuda_launch._grid_1d`).
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._cuda_launch import _grid_1d


def _launch(name, dtype, units, args):
    grid, block = _grid_1d(units)
    K.kernel(name)(dtype)(grid, block, args)


class CupyRnn:
    """recurrent gates (RNN / LSTM / GRU) on the GPU."""

    def rnn_step_forward(self, gx, gh, h, relu):
        if not self._fusable(gx, gh, h):
            return super().rnn_step_forward(gx, gh, h, relu)
        _launch("rnn_forward", h.dtype, h.size, (gx, gh, h, np.int64(h.size), np.int32(bool(relu))))

    def rnn_step_backward(self, dy, dh_rec, h, dpre, relu):
        if not self._fusable(dy, dh_rec, h, dpre):
            return super().rnn_step_backward(dy, dh_rec, h, dpre, relu)
        _launch("rnn_backward", h.dtype, h.size, (dy, dh_rec, h, dpre, np.int64(h.size), np.int32(bool(relu))))

    def lstm_step_forward(self, gx, gh, c_prev, gates, c, tc, h):
        if not self._fusable(gx, gh, c_prev, gates, c, tc, h):
            return super().lstm_step_forward(gx, gh, c_prev, gates, c, tc, h)
        _launch("lstm_forward", h.dtype, h.size,
                (gx, gh, c_prev, gates, c, tc, h, np.int64(h.size), np.int64(h.shape[-1])))

    def lstm_step_backward(self, dy, dh_rec, dc, gates, c_prev, tc, dgates):
        if not self._fusable(dy, dh_rec, dc, gates, c_prev, tc, dgates):
            return super().lstm_step_backward(dy, dh_rec, dc, gates, c_prev, tc, dgates)
        _launch("lstm_backward", dc.dtype, dc.size,
                (dy, dh_rec, dc, gates, c_prev, tc, dgates, np.int64(dc.size), np.int64(dc.shape[-1])))

    def gru_step_forward(self, gx, gh, b_hh, h_prev, gates, h):
        if not self._fusable(gx, gh, b_hh, h_prev, gates, h):
            return super().gru_step_forward(gx, gh, b_hh, h_prev, gates, h)
        _launch("gru_forward", h.dtype, h.size,
                (gx, gh, b_hh, h_prev, gates, h, np.int64(h.size), np.int64(h.shape[-1])))

    def gru_step_backward(self, dy, dh_a, dh_b, gates, h_prev, dgi, dgh):
        if not self._fusable(dy, dh_a, dh_b, gates, h_prev, dgi, dgh):
            return super().gru_step_backward(dy, dh_a, dh_b, gates, h_prev, dgi, dgh)
        _launch("gru_backward", h_prev.dtype, h_prev.size,
                (dy, dh_a, dh_b, gates, h_prev, dgi, dgh, np.int64(h_prev.size), np.int64(h_prev.shape[-1])))
