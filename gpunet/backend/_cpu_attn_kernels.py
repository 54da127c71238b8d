"""Compiled CPU kernels (Numba) of attention: the scaled, masked softmax of the scores in ONE pass per row forward
and ONE backward, the GIL released, over a batch range ``[b0, b1)`` so the caller can split the work over threads.

Scores are a C-contiguous ``(B, L, S)`` array, overwritten by the result. A row is 128 to a few thousand floats,
so its passes (scale + mask + max, exponentials + sum, normalise) run while it sits in L1: one read and one write
of the scores from memory. The exponential of float32 rows is a polynomial that vectorises (Numba's ``np.exp``
is one element at a time, ~3× slower here); float64 rows use ``np.exp``. Sums may be reassociated (vectorised),
which rounds differently from the reference's sequential order in the last bits; nothing assumes finite values.
Imported only through :func:`gpunet.backend._numba.kernels` having succeeded (Numba present and turned on).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._cpu_kernels import CACHE

# vectorisable reductions: reassociation (and FMA contraction) only; infinities and NaN keep their meaning
_jit_fm = njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False,
               fastmath={"reassoc", "nsz", "contract"})

MASK_NONE, MASK_BOOL, MASK_ADD = 0, 1, 2


@_jit_fm
def _exp_sum_f32(row, m, bits, scale2):
    """row ← exp(row − m) (float32: Cephes' expf polynomial on r = x − n·ln 2, times 2ⁿ built from its bits in
    ``bits``, an int32 scratch row whose float32 view is ``scale2``); returns Σ row. Arguments below −87 give 0."""
    n_ = row.shape[0]
    f = row.dtype.type
    log2e, c1, c2, lo = f(1.4426950408889634), f(0.693359375), f(-2.12194440e-4), f(-87.0)
    for k in range(n_):
        x = row[k] - m
        small = x < lo
        x = lo if small else x
        n = np.floor(x * log2e + f(0.5))
        r = (x - n * c1) - n * c2
        p = f(1.9875691500e-4)
        p = p * r + f(1.3981999507e-3)
        p = p * r + f(8.3334519073e-3)
        p = p * r + f(4.1665795894e-2)
        p = p * r + f(1.6666665459e-1)
        p = p * r + f(5.0000001201e-1)
        p = (p * r) * r + r + f(1)
        row[k] = f(0) if small else p
        bits[k] = (np.int32(n) + np.int32(127)) << 23
    t = f(0)
    for k in range(n_):
        v = row[k] * scale2[k]
        row[k] = v
        t += v
    return t


@_jit_fm
def _exp_sum(row, m):
    """row ← exp(row − m) with ``np.exp`` (float64); returns Σ row."""
    t = row.dtype.type(0)
    for k in range(row.shape[0]):
        v = np.exp(row[k] - m)
        row[k] = v
        t += v
    return t


@_jit_fm
def _row_scale(row, a):
    for k in range(row.shape[0]):
        row[k] *= a


@njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False)
def attn_softmax(s, scale, mask, moff, msi, msj, kind, causal, safe, fast_exp, b0, b1):
    """s[b0:b1] ← softmax(s · scale + mask) per row, in place.

    ``kind``: MASK_NONE, MASK_BOOL (``mask`` bool, True: the key takes part) or MASK_ADD (``mask`` added); the mask
    of row (b, i), key j is ``mask[moff[b] + i·msi + j·msj]``. ``causal`` also drops keys j > i. A row with no key
    left becomes zeros (``safe``) or NaN. ``fast_exp``: float32 rows use the vectorised exponential."""
    _, L, S = s.shape
    f = s.dtype.type
    ninf = f(-np.inf)
    bits = np.empty(S, np.int32)
    scale2 = bits.view(np.float32)
    for b in range(b0, b1):
        base = moff[b] if kind != MASK_NONE else 0
        for i in range(L):
            full = s[b, i]
            jn = min(i + 1, S) if causal else S  # keys j >= jn are dropped (causal)
            row = full[:jn]
            mo = base + i * msi
            m = ninf
            if kind == MASK_BOOL:
                for j in range(jn):
                    v = row[j] * scale if mask[mo + j * msj] else ninf
                    row[j] = v
                    m = max(m, v)
            elif kind == MASK_ADD:
                for j in range(jn):
                    v = row[j] * scale + mask[mo + j * msj]
                    row[j] = v
                    m = max(m, v)
            else:
                for j in range(jn):
                    v = row[j] * scale
                    row[j] = v
                    m = max(m, v)
            if m == ninf or m != m:  # no key left (or NaN): all zeros (safe) / all NaN, as the reference
                fill = f(0) if safe and m == ninf else f(np.nan)
                for j in range(S):
                    full[j] = fill
                continue
            for j in range(jn, S):
                full[j] = f(0)
            t = _exp_sum_f32(row, m, bits, scale2) if fast_exp else _exp_sum(row, m)
            _row_scale(row, f(1) / t)


@_jit_fm
def _row_dot(a, b):
    t = a.dtype.type(0)
    for k in range(a.shape[0]):
        t += a[k] * b[k]
    return t


@njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False)
def attn_softmax_grad(p, dp, mult, b0, b1):
    """dp[b0:b1] ← p ⊙ (dp − Σ_j dp ⊙ p) · mult per row, in place (``p``, ``dp``: C-contiguous (B, L, S))."""
    _, L, S = p.shape
    for b in range(b0, b1):
        for i in range(L):
            pr, dr = p[b, i], dp[b, i]
            t = _row_dot(pr, dr)
            _row_grad(pr, dr, t, mult)


@_jit_fm
def _row_grad(pr, dr, t, mult):
    for k in range(pr.shape[0]):
        dr[k] = pr[k] * (dr[k] - t) * mult
