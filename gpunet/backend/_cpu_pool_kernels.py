"""Compiled CPU pooling kernels (Numba), the GIL released: one pass per op over a plane range ``[b0, b1)`` of a
C-contiguous (B, H, W) stack, so the caller can split the planes over threads (:mod:`gpunet.backend._parallel`).

Windows are clipped to the input instead of padding it (no padded copy). Max pooling follows PyTorch's rule: the
first in-bounds element starts the window, a larger value or a NaN replaces it, so the index is PyTorch's. The
backward passes scatter-add into a zeroed input gradient, plane by plane in output order (deterministic).
Imported only through :func:`gpunet.backend._numpy_pool.kernels` (it needs Numba).
"""
from __future__ import annotations

import numpy as np

from ._cpu_kernels import _inline, _jit


@_inline
def _first_tap(start, k, d, size):
    """[a0, a1): the taps a of a window starting at ``start`` (taps start + a·d) that fall inside [0, size)."""
    a0 = 0 if start >= 0 else (-start + d - 1) // d
    a1 = min(k, (size - start + d - 1) // d)
    return a0, max(a1, a0)


@_inline
def _nan_window(xb, h0, w0, ha, hb, wa, wb, dh, dw, W):
    """The flat index of the last NaN of a window (PyTorch keeps replacing its max by each NaN it meets)."""
    bi = -1
    for a in range(ha, hb):
        h = h0 + a * dh
        for c in range(wa, wb):
            w = w0 + c * dw
            if xb[h, w] != xb[h, w]:
                bi = h * W + w
    return bi


# Branch-free updates (a max and an integer select): on random data "is this one larger?" is a coin flip, and
# a mispredicted branch per element cost 5x (9.0 against 1.7 ms for a 2x2 pool of (2048, 32, 32) float32). NaN
# is checked per window with a flag and fixed up in a rare second branch.
@_jit
def max_pool_fwd(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx, b0, b1):
    """y[b, i, j] = max of the window clipped to the plane, idx its flat index h·W + w."""
    H, W = x.shape[1], x.shape[2]
    oh, ow = y.shape[1], y.shape[2]
    for b in range(b0, b1):
        xb, yb, ib = x[b], y[b], idx[b]
        for i in range(oh):
            h0 = i * sh - ph
            ha, hb = _first_tap(h0, kh, dh, H)
            for j in range(ow):
                w0 = j * sw - pw
                wa, wb = _first_tap(w0, kw, dw, W)
                hf, wf = h0 + ha * dh, w0 + wa * dw
                best = xb[hf, wf]
                bi = hf * W + wf
                nan = best != best
                for a in range(ha, hb):
                    h = h0 + a * dh
                    row = xb[h]
                    for c in range(wa, wb):
                        w = w0 + c * dw
                        v = row[w]
                        t = np.int64(v > best)
                        best = v if v > best else best
                        bi += t * (h * W + w - bi)
                        nan |= v != v
                if nan:
                    bi = _nan_window(xb, h0, w0, ha, hb, wa, wb, dh, dw, W)
                    best = xb[bi // W, bi % W]
                yb[i, j] = best
                ib[i, j] = bi


@_jit
def max_pool2x2_fwd(x, y, idx, b0, b1):
    """The LeNet case, kernel 2, stride 2, no padding or dilation (odd trailing rows/columns dropped)."""
    W = x.shape[2]
    oh, ow = y.shape[1], y.shape[2]
    for b in range(b0, b1):
        xb, yb, ib = x[b], y[b], idx[b]
        for i in range(oh):
            r0, r1 = xb[2 * i], xb[2 * i + 1]
            yr, ir = yb[i], ib[i]
            base = 2 * i * W
            nan = False
            for j in range(ow):
                c = 2 * j
                v0, v1, v2, v3 = r0[c], r0[c + 1], r1[c], r1[c + 1]
                s1 = np.int64(v1 > v0)
                s3 = np.int64(v3 > v2)
                m01 = v1 if v1 > v0 else v0
                m23 = v3 if v3 > v2 else v2
                t = np.int64(m23 > m01)
                yr[j] = m23 if m23 > m01 else m01
                ir[j] = base + c + s1 + t * (W + s3 - s1)
                nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3)
            if nan:
                for j in range(ow):
                    bi = _nan_window(xb, 2 * i, 2 * j, 0, 2, 0, 2, 1, 1, W)
                    if bi >= 0:
                        yr[j] = np.nan
                        ir[j] = bi


@_jit
def max_pool_bwd(g, idx, gx, b0, b1):
    """gx[b, idx[b, k]] += g[b, k] for the flattened (B, oh·ow) ``g``/``idx`` and a zeroed (B, H·W) ``gx``."""
    n = g.shape[1]
    for b in range(b0, b1):
        gb, ib, xb = g[b], idx[b], gx[b]
        for k in range(n):
            xb[ib[k]] += gb[k]


@_jit
def avg_pool_fwd(x, kh, kw, sh, sw, ph, pw, inv, y, b0, b1):
    """y[b, i, j] = (sum of the clipped window) · inv[i, j] (inv = 1/divisor)."""
    H, W = x.shape[1], x.shape[2]
    oh, ow = y.shape[1], y.shape[2]
    zero = x.dtype.type(0)
    for b in range(b0, b1):
        xb, yb = x[b], y[b]
        for i in range(oh):
            ha = max(i * sh - ph, 0)
            hb = min(i * sh - ph + kh, H)
            for j in range(ow):
                wa = max(j * sw - pw, 0)
                wb = min(j * sw - pw + kw, W)
                s = zero
                for h in range(ha, hb):
                    for w in range(wa, wb):
                        s += xb[h, w]
                yb[i, j] = s * inv[i, j]


@_jit
def avg_pool_bwd(g, kh, kw, sh, sw, ph, pw, inv, gx, b0, b1):
    """col2im: each g[b, i, j] · inv[i, j] added over its clipped window of a zeroed (B, H, W) ``gx``."""
    H, W = gx.shape[1], gx.shape[2]
    oh, ow = g.shape[1], g.shape[2]
    for b in range(b0, b1):
        gb, xb = g[b], gx[b]
        for i in range(oh):
            ha = max(i * sh - ph, 0)
            hb = min(i * sh - ph + kh, H)
            for j in range(ow):
                wa = max(j * sw - pw, 0)
                wb = min(j * sw - pw + kw, W)
                v = gb[i, j] * inv[i, j]
                for h in range(ha, hb):
                    for w in range(wa, wb):
                        xb[h, w] += v


# ------------------------------------------------------------------------------ channels-first batch norm
# BatchNorm2d over (N, C, L) without moving the channel axis last: per channel, the N rows of L contiguous values.
# Sums run in 8 independent lanes of the input dtype per row (so they vectorise without reassociating one chain)
# and each row's total is added to the float64 totals; the caller splits the work over channels.
@_jit
def bn_cf_sums(x, shift, s1, s2, c0, c1):
    """s1[c] = Σ(x − shift[c]), s2[c] = Σ(x − shift[c])² over x[:, c, :] for c in [c0, c1) (float64 outputs)."""
    n, L = x.shape[0], x.shape[2]
    L8 = L - L % 8
    zero = x.dtype.type(0)
    for c in range(c0, c1):
        sh = x.dtype.type(shift[c])
        t1 = 0.0
        t2 = 0.0
        for i in range(n):
            r = x[i, c]
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
            q0 = q1 = q2 = q3 = q4 = q5 = q6 = q7 = zero
            for k in range(0, L8, 8):
                d0, d1, d2, d3 = r[k] - sh, r[k + 1] - sh, r[k + 2] - sh, r[k + 3] - sh
                d4, d5, d6, d7 = r[k + 4] - sh, r[k + 5] - sh, r[k + 6] - sh, r[k + 7] - sh
                a0 += d0
                a1 += d1
                a2 += d2
                a3 += d3
                a4 += d4
                a5 += d5
                a6 += d6
                a7 += d7
                q0 += d0 * d0
                q1 += d1 * d1
                q2 += d2 * d2
                q3 += d3 * d3
                q4 += d4 * d4
                q5 += d5 * d5
                q6 += d6 * d6
                q7 += d7 * d7
            for k in range(L8, L):
                d = r[k] - sh
                a0 += d
                q0 += d * d
            t1 += ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
            t2 += ((q0 + q1) + (q2 + q3)) + ((q4 + q5) + (q6 + q7))
        s1[c] = t1
        s2[c] = t2


@_jit
def bn_cf_grad_sums(g, x, shift, sg, sgx, c0, c1):
    """sg[c] = Σdy, sgx[c] = Σdy·(x − shift[c]) over channel c in [c0, c1) (float64 outputs)."""
    n, L = x.shape[0], x.shape[2]
    L8 = L - L % 8
    zero = x.dtype.type(0)
    for c in range(c0, c1):
        sh = x.dtype.type(shift[c])
        t1 = 0.0
        t2 = 0.0
        for i in range(n):
            r, gr = x[i, c], g[i, c]
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
            q0 = q1 = q2 = q3 = q4 = q5 = q6 = q7 = zero
            for k in range(0, L8, 8):
                a0 += gr[k]
                a1 += gr[k + 1]
                a2 += gr[k + 2]
                a3 += gr[k + 3]
                a4 += gr[k + 4]
                a5 += gr[k + 5]
                a6 += gr[k + 6]
                a7 += gr[k + 7]
                q0 += gr[k] * (r[k] - sh)
                q1 += gr[k + 1] * (r[k + 1] - sh)
                q2 += gr[k + 2] * (r[k + 2] - sh)
                q3 += gr[k + 3] * (r[k + 3] - sh)
                q4 += gr[k + 4] * (r[k + 4] - sh)
                q5 += gr[k + 5] * (r[k + 5] - sh)
                q6 += gr[k + 6] * (r[k + 6] - sh)
                q7 += gr[k + 7] * (r[k + 7] - sh)
            for k in range(L8, L):
                a0 += gr[k]
                q0 += gr[k] * (r[k] - sh)
            t1 += ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
            t2 += ((q0 + q1) + (q2 + q3)) + ((q4 + q5) + (q6 + q7))
        sg[c] = t1
        sgx[c] = t2


@_jit
def bn_cf_affine(x, shift, a, b, y, c0, c1):
    """y[:, c] = (x[:, c] − shift[c])·a[c] + b[c] for c in [c0, c1) (normalise, and the eval forward)."""
    n, L = x.shape[0], x.shape[2]
    for c in range(c0, c1):
        sh, ac, bc = shift[c], a[c], b[c]
        for i in range(n):
            r, yr = x[i, c], y[i, c]
            for k in range(L):
                yr[k] = (r[k] - sh) * ac + bc


@_jit
def bn_cf_dx(g, x, shift, a, b, cc, dx, c0, c1):
    """dx = a[c]·dy + b[c]·(x − shift[c]) + cc[c] over channels [c0, c1)."""
    n, L = x.shape[0], x.shape[2]
    for c in range(c0, c1):
        sh, ac, bc, ccc = shift[c], a[c], b[c], cc[c]
        for i in range(n):
            r, gr, dr = x[i, c], g[i, c], dx[i, c]
            for k in range(L):
                dr[k] = ac * gr[k] + bc * (r[k] - sh) + ccc
