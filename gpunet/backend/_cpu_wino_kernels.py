"""Compiled CPU kernels (Numba) of the Winograd F(2x2, 3x3) convolution of :mod:`._numpy_winograd`.

Layout: an image is split into its four parity sub-planes ``s[a, b, i, j] = x_pad[2i + a, 2j + b]`` (N, C, 2, 2,
th + 2, tw + 1: one zero row more than the tiles need, and one junk tile per tile row), so row k = 0 … 3 of tile
(ty, tx), input row 2ty + k, is sub-plane row a = k mod 2 shifted down by k div 2 (0 or 1), and the same for
the columns. Every step of Bᵀ d B (and of Aᵀ m A, and of its adjoint) is then a loop over all the tiles of a
block, flat index f = ty·(tw + 1) + tx, with two or three streams, which LLVM vectorises. Nothing is transposed:
the tiles stay the inner axis of the transformed planes (16, C, tiles), the right operands of the GEMMs, whose
products (16, O, tiles) come back in the same order. A block is a run of tiles of one image, or several whole
images (their runs one after another).

Measured against (one core, the residual block's (32, 64, 32, 32)): the input transform with one loop over the
channels of each tile (the 32 streams of a 4x4 tile needed more runtime alias checks than LLVM allows, so it
stayed scalar) 17.8 ms, against 3.3 here; channels-last layouts also needed two transposes of every image, at
3-7 ns an element; loops over the coefficients of Bᵀ and Aᵀ (one multiply-add pass per nonzero entry) instead
of the written-out sums ran the transforms 2.3-2.9x slower.

The junk tile tx = tw of each row reads real padding and is computed with the rest (1 / (tw + 1) of the work);
the output transform skips it, and the upstream gradient's sub-planes are zero there, so it adds nothing to dW.
"""
from __future__ import annotations

import numpy as np

from ._cpu_kernels import _inline, _jit


@_jit
def space_to_depth(x, out, pad, n0, n1):
    """out[n, c, a, b, i, j] = x[n, c, m·i + a − pad, m·j + b − pad] (zero outside x) for the images n0 … n1 − 1;
    ``out`` is (N, C, m, m, Hs, Ws)."""
    c_, h, w = x.shape[1], x.shape[2], x.shape[3]
    m, hs, ws = out.shape[2], out.shape[4], out.shape[5]
    zero = out.dtype.type(0)
    for n in range(n0, n1):
        for c in range(c_):
            for a in range(m):
                for b in range(m):
                    j_lo = max(0, (pad - b + m - 1) // m)
                    j_hi = max(j_lo, min(ws, (w - 1 - b + pad) // m + 1))
                    q_lo = m * j_lo + b - pad
                    for i in range(hs):
                        dst = out[n, c, a, b, i]
                        r = m * i + a - pad
                        if r < 0 or r >= h:
                            for j in range(ws):
                                dst[j] = zero
                            continue
                        for j in range(j_lo):
                            dst[j] = zero
                        src = x[n, c, r, q_lo:]
                        mid = dst[j_lo:j_hi]
                        for j in range(j_hi - j_lo):
                            mid[j] = src[m * j]
                        for j in range(j_hi, ws):
                            dst[j] = zero


@_jit
def wino23_input(xs, V, n0, n1, f0, L):
    """V[4u + v, c, (n − n0)·L + f] = (Bᵀ d B)[u, v] of tiles f0 … f0 + L − 1 (flat index f0 + f) of the images
    n0 … n1 − 1, from the sub-planes ``xs`` (N, C, 2, 2, Hs, ws) of the zero-padded input. Bᵀ rows: d2 − d0,
    d1 + d2, d2 − d1, d3 − d1."""
    c_, hs, ws = xs.shape[1], xs.shape[4], xs.shape[5]
    rows = np.empty((8, L + 1), dtype=V.dtype)  # rows[2u + b]: Bᵀ's row u over the tile rows, column plane b
    for n in range(n0, n1):
        col = (n - n0) * L
        for c in range(c_):
            for b in range(2):
                e = xs[n, c, 0, b].reshape(hs * ws)
                o = xs[n, c, 1, b].reshape(hs * ws)
                d0, d1 = e[f0:f0 + L + 1], o[f0:f0 + L + 1]
                d2, d3 = e[f0 + ws:f0 + ws + L + 1], o[f0 + ws:f0 + ws + L + 1]
                s0, s1, s2, s3 = rows[b], rows[2 + b], rows[4 + b], rows[6 + b]
                for f in range(L + 1):
                    s0[f] = d2[f] - d0[f]
                for f in range(L + 1):
                    s1[f] = d1[f] + d2[f]
                for f in range(L + 1):
                    s2[f] = d2[f] - d1[f]
                for f in range(L + 1):
                    s3[f] = d3[f] - d1[f]
            for u in range(4):
                e0, e1 = rows[2 * u, :L], rows[2 * u, 1:]
                o0, o1 = rows[2 * u + 1, :L], rows[2 * u + 1, 1:]
                v0, v1 = V[4 * u, c, col:col + L], V[4 * u + 1, c, col:col + L]
                v2, v3 = V[4 * u + 2, c, col:col + L], V[4 * u + 3, c, col:col + L]
                for f in range(L):
                    v0[f] = e1[f] - e0[f]
                for f in range(L):
                    v1[f] = o0[f] + e1[f]
                for f in range(L):
                    v2[f] = e1[f] - o0[f]
                for f in range(L):
                    v3[f] = o1[f] - o0[f]


@_jit
def wino23_output(M, b, has_b, y, n0, n1, f0, L, ws):
    """y[n, :, 2ty + i, 2tx + j] = (Aᵀ M A)[i, j] (+ b) of tiles f0 … f0 + L − 1 (flat index ty·ws + tx) of the
    images n0 … n1 − 1, laid out as V of :func:`wino23_input`; the parts past the output and the junk tiles are
    dropped. Aᵀ rows: m0 + m1 + m2, m1 − m2 + m3."""
    o_, oh, ow = y.shape[1], y.shape[2], y.shape[3]
    tw = ws - 1
    zero = y.dtype.type(0)
    part = np.empty((8, L), dtype=y.dtype)  # part[4i + v]: Aᵀ's row i over the tile rows, column v
    out = np.empty((4, L), dtype=y.dtype)   # out[2i + j]: output (i, j) of every tile
    for n in range(n0, n1):
        col = (n - n0) * L
        for o in range(o_):
            for v in range(4):
                m0, m1 = M[v, o, col:col + L], M[4 + v, o, col:col + L]
                m2, m3 = M[8 + v, o, col:col + L], M[12 + v, o, col:col + L]
                p0, p1 = part[v], part[4 + v]
                for f in range(L):
                    p0[f] = m0[f] + m1[f] + m2[f]
                for f in range(L):
                    p1[f] = m1[f] - m2[f] + m3[f]
            bias = b[o] if has_b else zero
            for i in range(2):
                a0, a1, a2, a3 = part[4 * i], part[4 * i + 1], part[4 * i + 2], part[4 * i + 3]
                y0, y1 = out[2 * i], out[2 * i + 1]
                for f in range(L):
                    y0[f] = a0[f] + a1[f] + a2[f] + bias
                for f in range(L):
                    y1[f] = a1[f] - a2[f] + a3[f] + bias
            for ty in range(f0 // ws, (f0 + L - 1) // ws + 1):
                t_lo = max(0, f0 - ty * ws)  # the block's tiles in this tile row
                t_hi = min(tw, f0 + L - ty * ws)
                t_odd = min(t_hi, ow // 2)  # those whose column 1 is inside the output
                base = ty * ws - f0
                for i in range(2):
                    r = 2 * ty + i
                    if r >= oh:
                        break
                    row = y[n, o, r]
                    y0, y1 = out[2 * i], out[2 * i + 1]
                    for tx in range(t_lo, t_odd):
                        row[2 * tx] = y0[base + tx]
                        row[2 * tx + 1] = y1[base + tx]
                    for tx in range(max(t_lo, t_odd), t_hi):
                        row[2 * tx] = y0[base + tx]


@_inline
def _a_columns(a, c, d0, d1, d2, d3, L):
    """(d0, d1, d2, d3) = (a, a + c, a − c, c) over L entries: A applied to the pair (a, c) (Aᵀ's columns (1, 0),
    (1, 1), (1, −1), (0, 1)), one loop per output so that each vectorises."""
    for f in range(L):
        d0[f] = a[f]
    for f in range(L):
        d1[f] = a[f] + c[f]
    for f in range(L):
        d2[f] = a[f] - c[f]
    for f in range(L):
        d3[f] = c[f]


@_jit
def wino23_output_adjoint(gs, dM, n0, n1, f0, L):
    """dM[4u + v, o, (n − n0)·L + f] = (A dY Aᵀ)[u, v] of output tiles f0 … f0 + L − 1 of the images n0 … n1 − 1,
    from the sub-planes ``gs`` (N, O, 2, 2, Hs, ws) of the upstream gradient (zero past the output): the adjoint
    of :func:`wino23_output`."""
    o_, hs, ws = gs.shape[1], gs.shape[4], gs.shape[5]
    cols = np.empty((8, L), dtype=dM.dtype)  # Aᵀ's columns (1, 0), (1, 1), (1, −1), (0, 1) over row i: cols[4i + v]
    for n in range(n0, n1):
        col = (n - n0) * L
        for o in range(o_):
            for i in range(2):
                g0 = gs[n, o, i, 0].reshape(hs * ws)[f0:f0 + L]
                g1 = gs[n, o, i, 1].reshape(hs * ws)[f0:f0 + L]
                _a_columns(g0, g1, cols[4 * i], cols[4 * i + 1], cols[4 * i + 2], cols[4 * i + 3], L)
            for v in range(4):
                _a_columns(cols[v], cols[4 + v], dM[v, o, col:col + L], dM[4 + v, o, col:col + L],
                           dM[8 + v, o, col:col + L], dM[12 + v, o, col:col + L], L)
