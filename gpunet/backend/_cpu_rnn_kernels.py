"""Compiled CPU kernels of the recurrent gates (Numba): one pass per time step each way, the GIL released.

The formulas are those of the reference ops (:mod:`._rnn_ops`), one unit (n, j) at a time: a step reads each gate
pre-activation once and writes the gates, the cell and the hidden state in the same pass (backward: the four
pre-activation gradients and the carried cell gradient). ``fast`` (float32) evaluates tanh and σ by a rational
fit that vectorises (3 ulp); float64 calls libm. Imported only through
:func:`gpunet.backend._numba.kernels` (Numba present and not turned off).
"""
from __future__ import annotations

import numpy as np

from ._cpu_kernels import _inline, _jit

_C = np.float32(7.90531110763549805)  # beyond it tanh rounds to ±1 in float32
_A = tuple(np.float32(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                                   5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                                   -2.76076847742355e-16))
_B = tuple(np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                                   1.19825839466702e-06))
A1, A3, A5, A7, A9, A11, A13 = _A
B0, B2, B4, B6 = _B


@_inline
def _tanh32(x):
    """tanh in float32 by a 13/6 rational minimax fit on [−7.9, 7.9] (max error 3.4e-7, about 3 ulp): plain
    arithmetic, so a loop over it vectorises (libm's tanhf is a scalar call: ~45x slower per element here)."""
    if x > _C:
        x = _C
    if x < -_C:
        x = -_C
    x2 = x * x
    p = x2 * A13 + A11
    p = x2 * p + A9
    p = x2 * p + A7
    p = x2 * p + A5
    p = x2 * p + A3
    p = x2 * p + A1
    q = x2 * B6 + B4
    q = x2 * q + B2
    q = x2 * q + B0
    return x * p / q


# Each loop over a row sits in its own small function: LLVM vectorises one loop per function reliably, while a
# kernel holding several (or one loop over seven arrays) was left scalar (measured 0.44 ms against 0.03 ms for
# the LSTM gate activations of a (32, 1024) step). Row helpers take the ``fast`` flag and test it outside the loop.
@_jit
def _sig_row(a, b, out, fast):
    one = out.dtype.type(1)
    half = out.dtype.type(0.5)
    if fast:
        for j in range(out.shape[0]):
            out[j] = half + half * _tanh32(half * (a[j] + b[j]))
    else:
        for j in range(out.shape[0]):
            out[j] = one / (one + np.exp(-(a[j] + b[j])))


@_jit
def _tanh_row(a, b, out, fast):
    if fast:
        for j in range(out.shape[0]):
            out[j] = _tanh32(a[j] + b[j])
    else:
        for j in range(out.shape[0]):
            out[j] = np.tanh(a[j] + b[j])


@_jit
def _relu_row(a, b, out):
    zero = out.dtype.type(0)
    for j in range(out.shape[0]):
        v = a[j] + b[j]
        out[j] = zero if v <= zero else v  # NaN stays NaN


@_jit
def rnn_forward(gx, gh, h, relu, fast):
    for r in range(h.shape[0]):
        if relu:
            _relu_row(gx[r], gh[r], h[r])
        else:
            _tanh_row(gx[r], gh[r], h[r], fast)


@_jit
def _rnn_bwd_row(a, b, y, d, relu):
    one, zero = y.dtype.type(1), y.dtype.type(0)
    if relu:
        for j in range(y.shape[0]):
            d[j] = (a[j] + b[j]) if y[j] > zero else zero
    else:
        for j in range(y.shape[0]):
            d[j] = (a[j] + b[j]) * (one - y[j] * y[j])


@_jit
def rnn_backward(dy, dh_rec, h, dpre, relu):
    for r in range(h.shape[0]):
        _rnn_bwd_row(dy[r], dh_rec[r], h[r], dpre[r], relu)


@_jit
def _lstm_cell_row(gi, gf, gg, go, cp, cr, tr, hr, fast):
    for j in range(cr.shape[0]):
        cr[j] = gf[j] * cp[j] + gi[j] * gg[j]
    _tanh1_row(cr, tr, fast)
    for j in range(hr.shape[0]):
        hr[j] = go[j] * tr[j]


@_jit
def _tanh1_row(x, out, fast):
    if fast:
        for j in range(out.shape[0]):
            out[j] = _tanh32(x[j])
    else:
        for j in range(out.shape[0]):
            out[j] = np.tanh(x[j])


@_jit
def lstm_forward(gx, gh, c_prev, gates, c, tc, h, fast):
    H = c.shape[1]
    for r in range(c.shape[0]):
        a, b, g = gx[r], gh[r], gates[r]
        _sig_row(a[:2 * H], b[:2 * H], g[:2 * H], fast)
        _tanh_row(a[2 * H:3 * H], b[2 * H:3 * H], g[2 * H:3 * H], fast)
        _sig_row(a[3 * H:], b[3 * H:], g[3 * H:], fast)
        _lstm_cell_row(g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:], c_prev[r], c[r], tc[r], h[r], fast)


@_jit
def _lstm_bwd_row(dy, rec, dc, gi, gf, gg, go, cp, tc, di, df, dg, do):
    one = dc.dtype.type(1)
    for j in range(dc.shape[0]):
        dh = dy[j] + rec[j]
        t = tc[j]
        o_ = go[j]
        do[j] = dh * t * o_ * (one - o_)
        dct = dc[j] + dh * o_ * (one - t * t)
        i_, f_, g_ = gi[j], gf[j], gg[j]
        di[j] = dct * g_ * i_ * (one - i_)
        df[j] = dct * cp[j] * f_ * (one - f_)
        dg[j] = dct * i_ * (one - g_ * g_)
        dc[j] = dct * f_


@_jit
def lstm_backward(dy, dh_rec, dc, gates, c_prev, tc, dgates):
    H = dc.shape[1]
    for r in range(dc.shape[0]):
        g, d = gates[r], dgates[r]
        _lstm_bwd_row(dy[r], dh_rec[r], dc[r], g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:], c_prev[r], tc[r],
                      d[:H], d[H:2 * H], d[2 * H:3 * H], d[3 * H:])


@_jit
def _gru_new_row(gxn, ghn, bhn, r_, n_, hn, fast):
    for j in range(hn.shape[0]):
        hn[j] = ghn[j] + bhn[j]
    if fast:
        for j in range(hn.shape[0]):
            n_[j] = _tanh32(gxn[j] + r_[j] * hn[j])
    else:
        for j in range(hn.shape[0]):
            n_[j] = np.tanh(gxn[j] + r_[j] * hn[j])


@_jit
def _sig3_row(a, b, c, out, fast):
    one = out.dtype.type(1)
    half = out.dtype.type(0.5)
    if fast:
        for j in range(out.shape[0]):
            out[j] = half + half * _tanh32(half * (a[j] + b[j] + c[j]))
    else:
        for j in range(out.shape[0]):
            out[j] = one / (one + np.exp(-(a[j] + b[j] + c[j])))


@_jit
def _gru_mix_row(z_, n_, hp, h):
    one = h.dtype.type(1)
    for j in range(h.shape[0]):
        h[j] = (one - z_[j]) * n_[j] + z_[j] * hp[j]


@_jit
def gru_forward(gx, gh, b_hh, h_prev, gates, h, fast):
    H = h.shape[1]
    for r in range(h.shape[0]):
        a, b, g = gx[r], gh[r], gates[r]
        _sig3_row(a[:2 * H], b[:2 * H], b_hh[:2 * H], g[:2 * H], fast)
        _gru_new_row(a[2 * H:], b[2 * H:], b_hh[2 * H:], g[:H], g[2 * H:3 * H], g[3 * H:], fast)
        _gru_mix_row(g[H:2 * H], g[2 * H:3 * H], h_prev[r], h[r])


@_jit
def _gru_bwd_row(dy, da, db, r_, z_, n_, hn, hp, dir_, diz, din, dhn):
    one = hp.dtype.type(1)
    for j in range(hp.shape[0]):
        dh = dy[j] + da[j] + db[j]
        rj, zj, nj = r_[j], z_[j], n_[j]
        dn = dh * (one - zj) * (one - nj * nj)
        dr = dn * hn[j] * rj * (one - rj)
        dir_[j] = dr
        diz[j] = dh * (hp[j] - nj) * zj * (one - zj)
        din[j] = dn
        dhn[j] = dn * rj
        da[j] = dh * zj


@_jit
def gru_backward(dy, dh_a, dh_b, gates, h_prev, dgi, dgh):
    H = h_prev.shape[1]
    for r in range(h_prev.shape[0]):
        g, di, dh_ = gates[r], dgi[r], dgh[r]
        _gru_bwd_row(dy[r], dh_a[r], dh_b[r], g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:], h_prev[r],
                     di[:H], di[H:2 * H], di[2 * H:], dh_[2 * H:])
        dh_[:2 * H] = di[:2 * H]
