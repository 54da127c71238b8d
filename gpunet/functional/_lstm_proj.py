"""LSTM with projections (``proj_size > 0``, as ``torch.nn.LSTM``): h_t = W_hr (o_t ⊙ tanh(c_t)), so the
recurrent state and the output have ``proj_size`` features while the cell keeps ``hidden_size``.

It runs as the unrolled recurrence of ordinary ops (two matmuls and the gate functions per step, the input
projection of all steps as one matmul), not as the fused one-node-per-layer kernel of :mod:`._rnn_layer`: slower,
but with every gradient, double backward included, from ops that are checked on their own.
"""
from __future__ import annotations

from ..functional.activation import Sigmoid, Tanh
from ..functional.math import matmul
from .recurrent import stack_layers
from .shape import Stack


def _direction(inp, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, reverse: bool):
    L = inp.shape[0]
    H = w_hh.shape[0] // 4
    gx = matmul(inp, w_ih.transpose(0, 1))
    if b_ih is not None:
        gx = gx + b_ih
    outs = [None] * L
    for t in (range(L - 1, -1, -1) if reverse else range(L)):
        a = gx[t] + matmul(h, w_hh.transpose(0, 1))
        if b_hh is not None:
            a = a + b_hh
        i, f = Sigmoid.apply(a[:, :H]), Sigmoid.apply(a[:, H:2 * H])
        g, o = Tanh.apply(a[:, 2 * H:3 * H]), Sigmoid.apply(a[:, 3 * H:])
        c = f * c + i * g
        h = matmul(o * Tanh.apply(c), w_hr.transpose(0, 1))
        outs[t] = h
    return Stack.apply(*outs, axis=0), h, c


def run(x, h0, c0, weights, num_layers: int, D: int, zeros_h, zeros_c, dropout: float, training: bool):
    """``(output (L, N, D·P), h_n (D·layers, N, P), c_n (D·layers, N, H))`` for time-major ``x``; ``weights``:
    (w_ih, w_hh, b_ih, b_hh, w_hr) per layer and direction; ``zeros_h()``/``zeros_c()`` the default states."""
    def direction(inp, k, reverse):
        h = h0[k] if h0 is not None else zeros_h()
        c = c0[k] if c0 is not None else zeros_c()
        return _direction(inp, h, c, *weights[5 * k:5 * k + 5], reverse=reverse)
    out, hs, cs = stack_layers(x, num_layers, D, direction, dropout, training)
    return out, Stack.apply(*hs, axis=0), Stack.apply(*cs, axis=0)
