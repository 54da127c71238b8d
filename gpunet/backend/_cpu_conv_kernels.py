"""Compiled CPU kernels (Numba) of the convolutions: col2im as a scatter-add (im2col is a strided-view copy, which
measured faster than a compiled gather: 9 against 25 ms for the residual block's (32, 64, 32, 32) 3x3 pad 1 and
3.6-6 against 8-10 ms for LeNet's (64, 16, 14, 14) 5x5 pad 2, one core). Layouts as in :mod:`._conv_ops`: x
(N, C, H, W), cols (C, kh, kw, N, OH, OW), both passed flat. col2im works on a channel range ``[c0, c1)``
(channels write disjoint parts of the output), so the caller splits the work over threads (:mod:`._parallel`);
the GIL is released while they run. Imported only through :func:`gpunet.backend._numba.kernels` (the reference
ops serve without Numba).
"""
from __future__ import annotations

import numpy as np

from ._cpu_kernels import _inline, _jit


@_inline
def _span(o_count, start, step, size):
    """``[lo, hi)``: the output positions o with ``0 <= start + o·step < size``."""
    lo = 0
    if start < 0:
        lo = (-start + step - 1) // step
    hi = o_count
    if start + (o_count - 1) * step >= size:
        hi = (size - 1 - start) // step + 1 if size - 1 - start >= 0 else 0
    hi = max(hi, lo)
    return lo, hi


@_jit
def col2im(cols, dx, n_, c_, h, w, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, c0, c1):
    """dx[:, c0:c1] += the columns of those channels, each entry at the input position it was read from
    (positions in the padding are dropped). ``cols`` and ``dx`` are flat C-order buffers of the layouts above;
    ``dx`` is zeroed by the caller. Rows of stride-1 convolutions add through local slices (1.54 -> 0.87 ms for a
    13-sample chunk of LeNet's 16-channel 5x5 col2im, 3.8 -> 1.35 ms for 4 samples of a 64-channel 3x3 one)."""
    for c in range(c0, c1):
        for i in range(kh):
            r0 = i * dh - pt
            a_lo, a_hi = _span(oh, r0, sh, h)
            for j in range(kw):
                q0 = j * dw - pl
                b_lo, b_hi = _span(ow, q0, sw, w)
                for n in range(n_):
                    src0 = (((c * kh + i) * kw + j) * n_ + n) * oh * ow
                    dst0 = (n * c_ + c) * h * w
                    for a in range(a_lo, a_hi):
                        s = src0 + a * ow
                        d = dst0 + (r0 + a * sh) * w + q0
                        if sw == 1:  # local slices: indexing the flat arrays from an offset did not vectorise
                            dst = dx[d + b_lo:d + b_hi]
                            src = cols[s + b_lo:s + b_hi]
                            for q in range(dst.size):
                                dst[q] += src[q]
                        else:
                            for b in range(b_lo, b_hi):
                                dx[d + b * sw] += cols[s + b]


@_jit
def pad_planes(x, out, h, w, pt, pl, hp, wp):
    """``out`` (P planes of hp x wp) = the P planes of ``x`` (h x w) placed at row ``pt``, column ``pl``, zeros
    around them; both flat C-order. One pass of contiguous writes (zeroing the frame through strided NumPy slices
    and copying the interior cost ~60 µs a chunk of the residual block's (4, 64, 34, 34) buffer)."""
    zero = out.dtype.type(0)
    for p in range(x.size // (h * w)):
        plane = out[p * hp * wp:(p + 1) * hp * wp]
        src = x[p * h * w:(p + 1) * h * w]
        for i in range(pt * wp):
            plane[i] = zero
        for r in range(h):
            row = plane[(pt + r) * wp:(pt + r + 1) * wp]
            srow = src[r * w:(r + 1) * w]
            for q in range(pl):
                row[q] = zero
            mid = row[pl:pl + w]
            for q in range(w):
                mid[q] = srow[q]
            for q in range(pl + w, wp):
                row[q] = zero
        for i in range((pt + h) * wp, hp * wp):
            plane[i] = zero


# ---------------------------------------------------------------------------------------------- Winograd F(m, r)
# Stride-1, undilated r x r convolutions as Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over α x α input tiles (α = m + r − 1)
# that step by m (see _numpy_conv). Channels last, so every inner loop runs along the channels (contiguous,
# vectorised): images are (N, H, W, C), the transformed tiles (α², T, C) with T = N·th·tw tiles, tile
# t = (n·th + ty)·tw + tx, planes S elements apart (S = T·C + 16: a power-of-two plane stride puts the α² streams
# of a tile on the same cache sets, which ran 3x slower). Each kernel works on a tile range [t0, t1); zero
# coefficients are skipped.
@_jit
def wino_input(x, V, BT, n_, c_, h, w, th, tw, m, p, S, t0, t1):
    """V[:, t0:t1] = Bᵀ d B of those input tiles d (rows ty·m − p …, zero outside the input)."""
    a = BT.shape[0]
    tmp = np.empty((a, a, c_), dtype=V.dtype)
    zero = V.dtype.type(0)
    for t in range(t0, t1):
        tx = t % tw
        ty = (t // tw) % th
        n = t // (tw * th)
        for u in range(a):
            for l in range(a):
                acc = tmp[u, l]
                for c in range(c_):
                    acc[c] = zero
                q = tx * m + l - p
                if q < 0 or q >= w:
                    continue
                for k in range(a):
                    coef = BT[u, k]
                    r = ty * m + k - p
                    if coef == 0 or r < 0 or r >= h:
                        continue
                    src = ((n * h + r) * w + q) * c_
                    for c in range(c_):
                        acc[c] += coef * x[src + c]
        for u in range(a):
            for v in range(a):
                dst = (u * a + v) * S + t * c_
                for c in range(c_):
                    V[dst + c] = zero
                for l in range(a):
                    coef = BT[v, l]
                    if coef == 0:
                        continue
                    acc = tmp[u, l]
                    for c in range(c_):
                        V[dst + c] += coef * acc[c]


@_jit
def wino_output(M, AT, b, y, n_, o_, oh, ow, th, tw, has_b, S, t0, t1):
    """y (N, OH, OW, O) = Aᵀ M A of the tiles t0 … t1 − 1 (+ b), the part of each tile inside the output."""
    m, a = AT.shape
    tmp = np.empty((m, a, o_), dtype=y.dtype)
    zero = y.dtype.type(0)
    for t in range(t0, t1):
        tx = t % tw
        ty = (t // tw) % th
        n = t // (tw * th)
        for i in range(m):
            for v in range(a):
                acc = tmp[i, v]
                for o in range(o_):
                    acc[o] = zero
                for u in range(a):
                    coef = AT[i, u]
                    if coef == 0:
                        continue
                    src = (u * a + v) * S + t * o_
                    for o in range(o_):
                        acc[o] += coef * M[src + o]
        for i in range(m):
            r = ty * m + i
            if r >= oh:
                break
            for j in range(m):
                q = tx * m + j
                if q >= ow:
                    break
                dst = ((n * oh + r) * ow + q) * o_
                for o in range(o_):
                    y[dst + o] = b[o] if has_b else zero
                for v in range(a):
                    coef = AT[j, v]
                    if coef == 0:
                        continue
                    acc = tmp[i, v]
                    for o in range(o_):
                        y[dst + o] += coef * acc[o]


@_jit
def wino_output_adjoint(g, AT, dM, n_, o_, oh, ow, th, tw, S, t0, t1):
    """dM[:, t0:t1] = A dY Aᵀ of those output tiles of g (N, OH, OW, O), zero outside the output: the adjoint
    of wino_output."""
    m, a = AT.shape
    tmp = np.empty((m, a, o_), dtype=dM.dtype)
    zero = dM.dtype.type(0)
    for t in range(t0, t1):
        tx = t % tw
        ty = (t // tw) % th
        n = t // (tw * th)
        for i in range(m):
            r = ty * m + i
            for v in range(a):
                acc = tmp[i, v]
                for o in range(o_):
                    acc[o] = zero
                if r >= oh:
                    continue
                for j in range(m):
                    coef = AT[j, v]
                    q = tx * m + j
                    if coef == 0 or q >= ow:
                        continue
                    src = ((n * oh + r) * ow + q) * o_
                    for o in range(o_):
                        acc[o] += coef * g[src + o]
        for u in range(a):
            for v in range(a):
                dst = (u * a + v) * S + t * o_
                for o in range(o_):
                    dM[dst + o] = zero
                for i in range(m):
                    coef = AT[i, u]
                    if coef == 0:
                        continue
                    acc = tmp[i, v]
                    for o in range(o_):
                        dM[dst + o] += coef * acc[o]


# F(2x2, 3x3) written out (Bᵀ rows: d2 − d0, d1 + d2, d2 − d1, d3 − d1; Aᵀ rows: m0 + m1 + m2, m1 − m2 + m3):
# the generic loops above ran about 3x slower on these. wino23_input reads a zero-padded channels-last input
# xp (N, 2·th + 2, 2·tw + 2, C), so no tile needs a bounds check.
@_jit
def wino23_input(xp, V, n_, hp, wp, c_, th, tw, S, t0, t1):
    rs = wp * c_
    for t in range(t0, t1):
        tx = t % tw
        ty = (t // tw) % th
        n = t // (tw * th)
        b0 = ((n * hp + 2 * ty) * wp + 2 * tx) * c_
        b1, b2, b3 = b0 + rs, b0 + 2 * rs, b0 + 3 * rs
        o = t * c_
        for c in range(c_):
            k0, k1, k2, k3 = c, c_ + c, 2 * c_ + c, 3 * c_ + c
            # row combinations (over the tile's rows), per column
            a0 = xp[b2 + k0] - xp[b0 + k0]
            a1 = xp[b2 + k1] - xp[b0 + k1]
            a2 = xp[b2 + k2] - xp[b0 + k2]
            a3 = xp[b2 + k3] - xp[b0 + k3]
            e0 = xp[b1 + k0] + xp[b2 + k0]
            e1 = xp[b1 + k1] + xp[b2 + k1]
            e2 = xp[b1 + k2] + xp[b2 + k2]
            e3 = xp[b1 + k3] + xp[b2 + k3]
            f0 = xp[b2 + k0] - xp[b1 + k0]
            f1 = xp[b2 + k1] - xp[b1 + k1]
            f2 = xp[b2 + k2] - xp[b1 + k2]
            f3 = xp[b2 + k3] - xp[b1 + k3]
            h0 = xp[b3 + k0] - xp[b1 + k0]
            h1 = xp[b3 + k1] - xp[b1 + k1]
            h2 = xp[b3 + k2] - xp[b1 + k2]
            h3 = xp[b3 + k3] - xp[b1 + k3]
            # column combinations
            q = o + c
            V[q] = a2 - a0
            V[q + S] = a1 + a2
            V[q + 2 * S] = a2 - a1
            V[q + 3 * S] = a3 - a1
            V[q + 4 * S] = e2 - e0
            V[q + 5 * S] = e1 + e2
            V[q + 6 * S] = e2 - e1
            V[q + 7 * S] = e3 - e1
            V[q + 8 * S] = f2 - f0
            V[q + 9 * S] = f1 + f2
            V[q + 10 * S] = f2 - f1
            V[q + 11 * S] = f3 - f1
            V[q + 12 * S] = h2 - h0
            V[q + 13 * S] = h1 + h2
            V[q + 14 * S] = h2 - h1
            V[q + 15 * S] = h3 - h1


@_jit
def wino23_output(M, b, y, n_, o_, oh, ow, th, tw, has_b, S, t0, t1):
    """y (N, OH, OW, O) of the tiles t0 … t1 − 1 (+ b); a tile past the last row / column writes what fits."""
    zero = y.dtype.type(0)
    for t in range(t0, t1):
        tx = t % tw
        ty = (t // tw) % th
        n = t // (tw * th)
        r1 = 2 * ty + 1 < oh
        c1 = 2 * tx + 1 < ow
        d00 = ((n * oh + 2 * ty) * ow + 2 * tx) * o_
        d01, d10 = d00 + o_, d00 + ow * o_
        d11 = d10 + o_
        s = t * o_
        for o in range(o_):
            q = s + o
            m0, m1, m2, m3 = M[q], M[q + S], M[q + 2 * S], M[q + 3 * S]
            m4, m5, m6, m7 = M[q + 4 * S], M[q + 5 * S], M[q + 6 * S], M[q + 7 * S]
            m8, m9, m10, m11 = M[q + 8 * S], M[q + 9 * S], M[q + 10 * S], M[q + 11 * S]
            m12, m13, m14, m15 = M[q + 12 * S], M[q + 13 * S], M[q + 14 * S], M[q + 15 * S]
            # over the rows: row 0 = r0 + r1 + r2, row 1 = r1 − r2 + r3 (r_u = m[4u .. 4u + 3])
            u0, u1, u2, u3 = m0 + m4 + m8, m1 + m5 + m9, m2 + m6 + m10, m3 + m7 + m11
            w0, w1, w2, w3 = m4 - m8 + m12, m5 - m9 + m13, m6 - m10 + m14, m7 - m11 + m15
            bias = b[o] if has_b else zero
            y[d00 + o] = u0 + u1 + u2 + bias
            if c1:
                y[d01 + o] = u1 - u2 + u3 + bias
            if r1:
                y[d10 + o] = w0 + w1 + w2 + bias
                if c1:
                    y[d11 + o] = w1 - w2 + w3 + bias


@_jit
def wino23_output_adjoint(g, dM, n_, o_, oh, ow, th, tw, S, t0, t1):
    """dM of the tiles t0 … t1 − 1 from g (N, OH, OW, O), zero past the last row / column: wino23_output's
    adjoint."""
    zero = dM.dtype.type(0)
    for t in range(t0, t1):
        tx = t % tw
        ty = (t // tw) % th
        n = t // (tw * th)
        r1 = 2 * ty + 1 < oh
        c1 = 2 * tx + 1 < ow
        d00 = ((n * oh + 2 * ty) * ow + 2 * tx) * o_
        d01, d10 = d00 + o_, d00 + ow * o_
        d11 = d10 + o_
        s = t * o_
        for o in range(o_):
            g00 = g[d00 + o]
            g01 = g[d01 + o] if c1 else zero
            g10 = g[d10 + o] if r1 else zero
            g11 = g[d11 + o] if r1 and c1 else zero
            # columns: Aᵀ's columns are (1, 0), (1, 1), (1, −1), (0, 1)
            p0, p1, p2, p3 = g00, g00 + g01, g00 - g01, g01
            s0, s1, s2, s3 = g10, g10 + g11, g10 - g11, g11
            q = s + o
            dM[q], dM[q + S], dM[q + 2 * S], dM[q + 3 * S] = p0, p1, p2, p3
            dM[q + 4 * S], dM[q + 5 * S] = p0 + s0, p1 + s1
            dM[q + 6 * S], dM[q + 7 * S] = p2 + s2, p3 + s3
            dM[q + 8 * S], dM[q + 9 * S] = p0 - s0, p1 - s1
            dM[q + 10 * S], dM[q + 11 * S] = p2 - s2, p3 - s3
            dM[q + 12 * S], dM[q + 13 * S], dM[q + 14 * S], dM[q + 15 * S] = s0, s1, s2, s3


@_jit
def to_channels_last(x, out, c_, h, w, hp, wp, pad, n0, n1):
    """out[n, pad + r, pad + q, c] = x[n, c, r, q] for the images n0 … n1 − 1 (the border of out is left as it
    is): 16 x 16 blocks of (channel, column) at a time, so neither side is read or written with a large stride."""
    B = 16
    blk = np.empty((B, B), dtype=out.dtype)
    for n in range(n0, n1):
        for c0 in range(0, c_, B):
            cb = min(B, c_ - c0)
            for r in range(h):
                for q0 in range(0, w, B):
                    qb = min(B, w - q0)
                    for i in range(cb):
                        src = ((n * c_ + c0 + i) * h + r) * w + q0
                        for j in range(qb):
                            blk[j, i] = x[src + j]
                    for j in range(qb):
                        dst = ((n * hp + pad + r) * wp + pad + q0 + j) * c_ + c0
                        for i in range(cb):
                            out[dst + i] = blk[j, i]


@_jit
def to_channels_first(yh, y, c_, hw, n0, n1):
    """y[n, c, s] = yh[n, s, c] (s over the hw pixels) for the images n0 … n1 − 1, in 16 x 16 blocks."""
    B = 16
    blk = np.empty((B, B), dtype=y.dtype)
    for n in range(n0, n1):
        for s0 in range(0, hw, B):
            sb = min(B, hw - s0)
            for c0 in range(0, c_, B):
                cb = min(B, c_ - c0)
                for j in range(sb):
                    src = (n * hw + s0 + j) * c_ + c0
                    for i in range(cb):
                        blk[i, j] = yh[src + i]
                for i in range(cb):
                    dst = (n * c_ + c0 + i) * hw + s0
                    for j in range(sb):
                        y[dst + j] = blk[i, j]
