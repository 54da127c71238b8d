"""Compiled CPU kernels (Numba) of the mean squared error.

Each kernel works on the element range ``[lo, hi)`` of flat C-contiguous arrays so the caller can split it over
threads (:mod:`gpunet.backend._parallel`); the loops run over slices from 0 (with an index of unknown sign Numba's
negative-index wraparound would keep LLVM from vectorising them). The sum of squares is taken in pieces of CHUNK values: lanes of partial
sums in the arrays' dtype within a piece (``fastmath={"reassoc"}``, no other relaxation), the pieces' sums added in
float64, so float32 rounding grows with CHUNK, not with the number of elements; each span's total is written to its
own float64 slot, which the caller adds.
"""
from __future__ import annotations

from numba import njit

from ._cpu_kernels import CACHE, _jit

_jit_red = njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False, fastmath={"reassoc"})
CHUNK = 1024


@_jit_red
def _piece_sqdiff(x, y):
    a = x.dtype.type(0)
    for j in range(x.shape[0]):
        d = x[j] - y[j]
        a += d * d
    return a


@_jit
def sqdiff_sum(x, y, lo, hi, out, k):
    """out[k] = Σ (x − y)² over [lo, hi), in float64 across pieces."""
    t = 0.0
    for s in range(lo, hi, CHUNK):
        e = min(s + CHUNK, hi)
        t += _piece_sqdiff(x[s:e], y[s:e])
    out[k] = t


@_jit_red
def _piece_sqdiff_grad(x, y, c, dx):
    a = x.dtype.type(0)
    for j in range(x.shape[0]):
        d = x[j] - y[j]
        a += d * d
        dx[j] = d * c
    return a


@_jit
def sqdiff_sum_grad(x, y, c, lo, hi, out, k, dx):
    """:func:`sqdiff_sum` and, in the same pass, dx = (x − y) · c over [lo, hi) (as :func:`mse_grad`)."""
    t = 0.0
    for s in range(lo, hi, CHUNK):
        e = min(s + CHUNK, hi)
        t += _piece_sqdiff_grad(x[s:e], y[s:e], c, dx[s:e])
    out[k] = t


@_jit
def _sqdiff(x, y, out):
    for i in range(x.shape[0]):
        d = x[i] - y[i]
        out[i] = d * d


@_jit
def sqdiff(x, y, lo, hi, out):
    """out = (x − y)² over [lo, hi)."""
    _sqdiff(x[lo:hi], y[lo:hi], out[lo:hi])


@_jit
def _grad_xy(x, y, c, dx, dy):
    for i in range(x.shape[0]):
        v = (x[i] - y[i]) * c
        dx[i] = v
        dy[i] = -v


@_jit
def _grad_x(x, y, c, dx):
    for i in range(x.shape[0]):
        dx[i] = (x[i] - y[i]) * c


@_jit
def mse_grad(x, y, c, lo, hi, dx, dy, need_x, need_y):
    """dx = c · (x − y), dy = −dx over [lo, hi) (each where needed); ``c`` a scalar of the arrays' dtype."""
    xs, ys = x[lo:hi], y[lo:hi]
    if need_x and need_y:
        _grad_xy(xs, ys, c, dx[lo:hi], dy[lo:hi])
    elif need_x:
        _grad_x(xs, ys, c, dx[lo:hi])
    else:
        _grad_x(ys, xs, c, dy[lo:hi])  # −(x − y)·c = (y − x)·c: the same rounding


@_jit
def _grad_none_xy(x, y, g, c, dx, dy):
    for i in range(x.shape[0]):
        v = (x[i] - y[i]) * g[i] * c
        dx[i] = v
        dy[i] = -v


@_jit
def _grad_none_x(x, y, g, c, dx):
    for i in range(x.shape[0]):
        dx[i] = (x[i] - y[i]) * g[i] * c


@_jit
def mse_grad_none(x, y, g, c, lo, hi, dx, dy, need_x, need_y):
    """dx = (x − y) · g · c, dy = −dx over [lo, hi) (each where needed): reduction 'none', ``g`` elementwise."""
    xs, ys, gs = x[lo:hi], y[lo:hi], g[lo:hi]
    if need_x and need_y:
        _grad_none_xy(xs, ys, gs, c, dx[lo:hi], dy[lo:hi])
    elif need_x:
        _grad_none_x(xs, ys, gs, c, dx[lo:hi])
    else:
        _grad_none_x(ys, xs, gs, c, dy[lo:hi])
