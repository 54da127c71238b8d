"""Compiled CPU kernels (Numba) of layer / RMS / group normalisation and the embedding gradient.

Row kernels work on rows ``[r0, r1)`` of a C-contiguous (R, D) array so the caller can split them over threads
(:mod:`gpunet.backend._parallel`); a kernel that reduces over rows (the affine gradients) adds into one partial
row per call, which the caller sums. A row of a few thousand values stays in L1 between the kernel's two loops over
it, so each kernel reads and writes memory once.

Row statistics are shifted sums (shift: the row's first value), so the variance keeps its digits when
|mean| >> std: in the row's dtype over pieces of ROW_CHUNK values, the pieces added in float64. Loops that reduce a
row to a scalar are compiled with ``fastmath={"reassoc"}`` so LLVM may keep several partial sums in vector lanes (a
summation order of its choosing, no other relaxation: no approximate division, no assumption that values are
finite); elementwise loops use the module defaults of :mod:`._cpu_kernels`. The affine gradients are summed over
CHUNK rows in the dtype, then added into float64 partial rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._cpu_kernels import CACHE, _jit

# reductions of a row to a scalar: lanes of partial sums allowed (see the module docstring)
_jit_red = njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False, fastmath={"reassoc"})


# ---------------------------------------------------------------------------------------------- row statistics
# A row is summed in pieces of ROW_CHUNK values: lanes of partial sums in the row's dtype within a piece (full SIMD
# width), the pieces' sums added in float64, so float32 rounding grows with ROW_CHUNK, not with the row length.
# Each piece is a slice looped from 0: with an index of unknown sign Numba's negative-index wraparound would keep
# LLVM from vectorising the loop.
ROW_CHUNK = 1024


@_jit_red
def _piece_moments(xr, s):
    z = xr.dtype.type(0)  # a constant start (s * 0 would keep LLVM from splitting the sums over lanes)
    a1 = z
    a2 = z
    for j in range(xr.shape[0]):
        v = xr[j] - s
        a1 += v
        a2 += v * v
    return a1, a2


@_jit
def _row_moments(xr, d):
    """(s, Σ(x − s), Σ(x − s)²) over a row, s = xr[0]; the sums in float64."""
    s = xr[0]
    t1 = 0.0
    t2 = 0.0
    for k in range(0, d, ROW_CHUNK):
        a1, a2 = _piece_moments(xr[k:k + ROW_CHUNK], s)
        t1 += a1
        t2 += a2
    return s, t1, t2


@_jit_red
def _piece_sumsq(xr):
    a2 = xr.dtype.type(0)
    for j in range(xr.shape[0]):
        a2 += xr[j] * xr[j]
    return a2


@_jit
def _row_sumsq(xr, d):
    """Σx² over a row, in float64."""
    t = 0.0
    for k in range(0, d, ROW_CHUNK):
        t += _piece_sumsq(xr[k:k + ROW_CHUNK])
    return t


@_jit_red
def _piece_grad_sums(gr, xr, wr, mt, rt, has_w, need_affine, dw, db):
    """The sums of :func:`_row_grad_sums` over one piece in the row's dtype (each case its own loop, so each
    vectorises)."""
    a = xr.dtype.type(0)
    b = xr.dtype.type(0)
    n = xr.shape[0]
    if has_w and need_affine:
        for j in range(n):
            gj = gr[j]
            xh = (xr[j] - mt) * rt
            db[j] += gj
            dw[j] += gj * xh
            gw = gj * wr[j]
            a += gw
            b += gw * xh
    elif has_w:
        for j in range(n):
            gw = gr[j] * wr[j]
            a += gw
            b += gw * ((xr[j] - mt) * rt)
    elif need_affine:
        for j in range(n):
            gj = gr[j]
            xh = (xr[j] - mt) * rt
            db[j] += gj
            dw[j] += gj * xh
            a += gj
            b += gj * xh
    else:
        for j in range(n):
            gj = gr[j]
            a += gj
            b += gj * ((xr[j] - mt) * rt)
    return a, b


@_jit
def _row_grad_sums(gr, xr, wr, mt, rt, d, has_w, need_affine, dw, db):
    """(Σ g·w, Σ g·w·x̂) over a row in float64, x̂ = (x − mt)·rt (w = 1 without a weight), and dw += g·x̂,
    db += g when ``need_affine``: one read of the row. ``wr`` (without a weight) and ``dw``/``db`` (without
    ``need_affine``) may be one-element stubs: their slices are then empty and never read."""
    ta = 0.0
    tb = 0.0
    for k in range(0, d, ROW_CHUNK):
        e = k + ROW_CHUNK
        a, b = _piece_grad_sums(gr[k:e], xr[k:e], wr[k:e], mt, rt, has_w, need_affine, dw[k:e], db[k:e])
        ta += a
        tb += b
    return ta, tb


@_jit
def _flush(acc, total):
    """total += acc (float64) and acc ← 0."""
    for j in range(acc.shape[0]):
        total[j] += acc[j]
        acc[j] = 0


# ---------------------------------------------------------------------------------------------- layer / RMS norm
@_jit
def ln_forward(x, w, b, has_w, has_b, eps, rms, y, mean, rstd, r0, r1):
    """y = (x − μ)·rstd·w + b per row (RMS: μ = 0 and rstd = 1/√(mean(x²) + eps)); mean (unused for RMS) and
    rstd per row in the arrays' dtype. ``w``/``b`` are read only when ``has_w``/``has_b``."""
    d = x.shape[1]
    for i in range(r0, r1):
        xr, yr = x[i], y[i]
        if rms:
            mu = 0.0
            var = np.float64(_row_sumsq(xr, d)) / d
        else:
            s, a1, a2 = _row_moments(xr, d)
            m = np.float64(a1) / d
            var = max(np.float64(a2) / d - m * m, 0.0)
            mu = np.float64(s) + m
            mean[i] = mu
        rs = 1.0 / np.sqrt(var + eps)
        rstd[i] = rs
        mt = x.dtype.type(mu)
        rt = x.dtype.type(rs)
        if has_w and has_b:
            for j in range(d):
                yr[j] = (xr[j] - mt) * rt * w[j] + b[j]
        elif has_w:
            for j in range(d):
                yr[j] = (xr[j] - mt) * rt * w[j]
        elif has_b:
            for j in range(d):
                yr[j] = (xr[j] - mt) * rt + b[j]
        else:
            for j in range(d):
                yr[j] = (xr[j] - mt) * rt


CHUNK = 16  # rows whose affine-gradient terms are summed in the input's dtype before going into float64


@_jit
def ln_backward(g, x, mean, rstd, w, has_w, rms, need_x, need_affine, dx, dw, db, r0, r1):
    """Per row: Σg·w and Σg·w·x̂ (and the affine terms g·x̂, g, in the same loop), then
    dx = rstd·(g·w − Σg·w/D − x̂·Σg·w·x̂/D) (RMS: without the Σg·w term). ``dw``/``db`` are float64 partial rows
    (``need_affine``); their terms are summed over CHUNK rows in the input's dtype first."""
    d = x.shape[1]
    t = x.dtype.type
    acc_w = np.zeros(d if need_affine else 1, x.dtype)
    acc_b = np.zeros(d if need_affine else 1, x.dtype)
    for i in range(r0, r1):
        gr, xr = g[i], x[i]
        mt = t(0) if rms else mean[i]
        rt = rstd[i]
        a, bb = _row_grad_sums(gr, xr, w, mt, rt, d, has_w, need_affine, acc_w, acc_b)
        if need_affine and ((i - r0) % CHUNK == CHUNK - 1 or i == r1 - 1):
            _flush(acc_w, dw)
            _flush(acc_b, db)
        if need_x:
            ca = t(0) if rms else t(np.float64(a) / d)
            cb = t(np.float64(bb) / d)
            dr = dx[i]
            if has_w:
                for j in range(d):
                    dr[j] = rt * (gr[j] * w[j] - ca - (xr[j] - mt) * rt * cb)
            else:
                for j in range(d):
                    dr[j] = rt * (gr[j] - ca - (xr[j] - mt) * rt * cb)


# ---------------------------------------------------------------------------------------------- group norm
@_jit
def gn_forward(x, w, b, groups, affine, eps, y, mean, rstd, r0, r1):
    """Rows of x (N·G, Cg, S): statistics over (Cg, S), then y = x̂·w[c] + b[c] with c = (row mod G)·Cg + k
    (``w``/``b`` read only when ``affine``)."""
    cg, s = x.shape[1], x.shape[2]
    d = cg * s
    for i in range(r0, r1):
        sh, a1, a2 = _row_moments(x[i].reshape(d), d)
        m = np.float64(a1) / d
        var = max(np.float64(a2) / d - m * m, 0.0)
        mu = np.float64(sh) + m
        rs = 1.0 / np.sqrt(var + eps)
        mean[i] = mu
        rstd[i] = rs
        mt = x.dtype.type(mu)
        rt = x.dtype.type(rs)
        c0 = (i % groups) * cg
        for k in range(cg):
            xk, yk = x[i, k], y[i, k]
            sc = rt * w[c0 + k] if affine else rt
            of = b[c0 + k] if affine else x.dtype.type(0)
            for j in range(s):
                yk[j] = (xk[j] - mt) * sc + of


@_jit
def gn_backward(g, x, mean, rstd, w, groups, has_w, need_x, need_affine, dx, dw, db, r0, r1):
    """Per row (n, group): per channel Σg and Σg·x̂ (added into the float64 partial rows dw/db, length C, when
    ``need_affine``), then dx as layer norm's with the per-channel weight (``w`` read only when ``has_w``)."""
    cg, s = x.shape[1], x.shape[2]
    d = cg * s
    t = x.dtype.type
    for i in range(r0, r1):
        mt, rt = mean[i], rstd[i]
        c0 = (i % groups) * cg
        a = 0.0
        bb = 0.0
        for k in range(cg):
            sg, sgx = _row_sums2(g[i, k], x[i, k], mt, rt, s)
            sg, sgx = np.float64(sg), np.float64(sgx)
            if need_affine:
                db[c0 + k] += sg
                dw[c0 + k] += sgx
            wk = np.float64(w[c0 + k]) if has_w else 1.0
            a += sg * wk
            bb += sgx * wk
        if need_x:
            ca = t(a / d)
            cb = t(bb / d)
            for k in range(cg):
                gk, xk, dk = g[i, k], x[i, k], dx[i, k]
                wk = w[c0 + k] if has_w else t(1.0)
                for j in range(s):
                    dk[j] = rt * (gk[j] * wk - ca - (xk[j] - mt) * rt * cb)


@_jit_red
def _piece_sums2(gr, xr, mt, rt):
    a = xr.dtype.type(0)
    b = xr.dtype.type(0)
    for j in range(xr.shape[0]):
        gv = gr[j]
        a += gv
        b += gv * ((xr[j] - mt) * rt)
    return a, b


@_jit
def _row_sums2(gr, xr, mt, rt, n):
    """(Σg, Σg·x̂) over n values in float64 (in pieces, as the row sums), x̂ = (x − mt)·rt."""
    ta = 0.0
    tb = 0.0
    for k in range(0, n, ROW_CHUNK):
        a, b = _piece_sums2(gr[k:k + ROW_CHUNK], xr[k:k + ROW_CHUNK], mt, rt)
        ta += a
        tb += b
    return ta, tb


# ---------------------------------------------------------------------------------------------- embedding
@_jit
def embedding_grad(g, idx, padding_idx, dw, lo, hi):
    """dw[idx[i]] += g[i] for the tokens whose index lies in [lo, hi) (each thread owns a range of rows of dw, so
    no two threads write one row); ``padding_idx`` (−1: none) gets nothing."""
    d = g.shape[1]
    for i in range(idx.shape[0]):
        r = idx[i]
        if r < lo or r >= hi or r == padding_idx:
            continue
        gr, wr = g[i], dw[r]
        for j in range(d):
            wr[j] += gr[j]
