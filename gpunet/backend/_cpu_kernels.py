"""Compiled CPU kernels (Numba): one pass over memory per fused step, the GIL released while they run.

Every kernel works on a row (or element) range ``[r0, r1)`` so the caller can split the work over threads
(:mod:`gpunet.backend._parallel`); kernels that reduce over rows write one partial row per call, which the caller
sums. Scalars arrive already cast to the arrays' dtype: Numba types a Python float as float64 and would carry
float32 work out in float64 otherwise. Compiled lazily on first call, one specialisation per dtype, and cached on
disk (``NUMBA_CACHE_DIR`` or ``__pycache__``). Importing this module imports Numba; the NumPy backend imports it
only through :func:`gpunet.backend._numba.kernels`, which falls back to the plain-``xp`` reference without it.

The formulas and their order of operations are those of the reference ops (``backend/base.py``) and of
:mod:`gpunet.optim._functional`, so results agree to rounding; nothing here asks for fast-math. (The layer
families' kernel modules relax only reductions, with ``fastmath={"reassoc"}`` on the functions that sum a row, so
LLVM can keep partial sums in vector lanes; each says so, and its tests bound the error against float64.)
"""
from __future__ import annotations

import numpy as np
from numba import njit

# activation codes of the fused linear op (the entries of FAST_ACTS in _numpy_fused, in order)
IDENTITY, RELU, LEAKY_RELU, SIGMOID, TANH = 0, 1, 2, 3, 4


def _probe():
    return 0


def _can_cache() -> bool:
    """Numba finds a writable cache location for this file (next to it, or NUMBA_CACHE_DIR, or the user's cache
    folder); without one, ``cache=True`` raises, so the kernels compile uncached (each process) instead."""
    try:
        njit(cache=True)(_probe)
    except RuntimeError:
        return False
    return True


CACHE = _can_cache()
_jit = njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False)
_inline = njit(nogil=True, cache=CACHE, error_model="numpy", inline="always")


# ---------------------------------------------------------------------------------------------- linear + activation
# One activation and its derivative per element, each formula written once: the passes below and the small-layer
# kernels inline them, and a loop over a row still vectorises (the act test is hoisted out of the loop).
@_inline
def _act1(v, act, alpha, one, zero):
    if act == RELU:
        return zero if v <= 0 else v  # NaN stays NaN
    if act == LEAKY_RELU:
        return v if v > 0 else v * alpha
    if act == SIGMOID:
        return one / (one + np.exp(-v))
    if act == TANH:
        return np.tanh(v)
    return v


@_inline
def _dact1(y, g, act, alpha, one):
    if act == RELU:
        return g if y > 0 else g * 0
    if act == LEAKY_RELU:
        return g if y > 0 else g * alpha
    if act == SIGMOID:
        return (one - y) * y * g
    if act == TANH:
        return (one - y * y) * g
    return g


@_jit
def bias_act(z, b, act, alpha, r0, r1):
    """z[r0:r1] ← act(z + b) in place (``b`` of length C; zeros when the layer has no bias)."""
    c = z.shape[1]
    one, zero = z.dtype.type(1), z.dtype.type(0)
    for i in range(r0, r1):
        row = z[i]
        for j in range(c):
            row[j] = _act1(row[j] + b[j], act, alpha, one, zero)


@_jit
def act_grad_bias(g, y, dz, db, act, alpha, r0, r1):
    """dz[r0:r1] = g · act'(from y); ``db`` (length C, zeroed by the caller) += the column sums of dz.

    Each row is written first and summed into ``db`` in a second loop over it (still in L1): one loop doing both
    does not vectorise (measured 58 → 33 µs on a (256, 512) ReLU gradient)."""
    c = g.shape[1]
    one = g.dtype.type(1)
    for i in range(r0, r1):
        gr, yr, dr = g[i], y[i], dz[i]
        for j in range(c):
            dr[j] = _dact1(yr[j], gr[j], act, alpha, one)
        for j in range(c):
            db[j] += dr[j]


@_jit
def act_grad_bias_inplace(g, y, db, act, alpha, r0, r1):
    """:func:`act_grad_bias` with dz written over g. One array read and written at the same index keeps the
    loop vectorised; the same array passed as both ``g`` and ``dz`` above would not (Numba's alias check sends
    it to the scalar loop: 15.2 ms against 1.2 ms for a (1024, 2048) ReLU gradient)."""
    c = g.shape[1]
    one = g.dtype.type(1)
    for i in range(r0, r1):
        gr, yr = g[i], y[i]
        for j in range(c):
            gr[j] = _dact1(yr[j], gr[j], act, alpha, one)
        for j in range(c):
            db[j] += gr[j]


# Small layers (a few thousand multiply-adds) in ONE call each way: below that, two BLAS calls plus the separate
# bias/activation pass cost more in call overhead than the arithmetic itself.
@_jit
def linear_small(x, W, b, act, alpha, y):
    """y = act(x @ W.T + b) for a small layer (``b`` zeros when the layer has none)."""
    n, k = x.shape
    c = W.shape[0]
    one, zero = x.dtype.type(1), x.dtype.type(0)
    for i in range(n):
        for j in range(c):
            s = zero
            for t in range(k):
                s += x[i, t] * W[j, t]
            y[i, j] = _act1(s + b[j], act, alpha, one, zero)


@_jit
def linear_small_grad(x, W, y, g, act, alpha, dx, dW, db, need_x):
    """dz = g · act'(y) (scratch); db = Σ_rows dz; dW = dzᵀ x; dx = dz W if ``need_x`` (``dx`` otherwise any
    array, not written)."""
    n, k = x.shape
    c = W.shape[0]
    one, zero = x.dtype.type(1), x.dtype.type(0)
    dz = np.empty_like(g)
    db[:] = 0
    for i in range(n):
        for j in range(c):
            d = _dact1(y[i, j], g[i, j], act, alpha, one)
            dz[i, j] = d
            db[j] += d
    for j in range(c):
        for t in range(k):
            s = zero
            for i in range(n):
                s += dz[i, j] * x[i, t]
            dW[j, t] = s
    if need_x:
        for i in range(n):
            for t in range(k):
                s = zero
                for j in range(c):
                    s += dz[i, j] * W[j, t]
                dx[i, t] = s


# A run of small layers in ONE call each way (nn.Sequential's LinearChain): ``Ws``, ``bs``, ``ys`` are tuples
# with one array per layer (each tuple of one array type: the caller declines read-only weights), ``acts`` and
# ``alphas`` tuples of codes and Python-float slopes, cast to the arrays' dtype here as the callers of the
# single-layer kernels cast them. Each layer runs exactly as those kernels, so the numbers are theirs. ``x`` is
# only ever passed on, never put in a variable with the layer outputs: it may be a read-only array.
@_jit
def linear_chain_small(x, Ws, bs, acts, alphas, ys):
    """ys[l] = act_l(h_l @ W_lᵀ + b_l) with h_0 = x and h_l = ys[l − 1]."""
    linear_small(x, Ws[0], bs[0], acts[0], x.dtype.type(alphas[0]), ys[0])
    for l in range(1, len(Ws)):
        linear_small(ys[l - 1], Ws[l], bs[l], acts[l], x.dtype.type(alphas[l]), ys[l])


@_jit
def linear_chain_small_grad(x, Ws, ys, g, acts, alphas, bottom, need_input, dWs, dbs, dx):
    """Backward of :func:`linear_chain_small` from the top layer down to layer ``bottom``: dWs[l] and dbs[l] for
    those layers, each as :func:`linear_small_grad`; the input's gradient into ``dx`` when ``need_input`` (then
    ``bottom`` is 0; otherwise ``dx`` is any array of x's shape and is not written)."""
    for l in range(len(Ws) - 1, max(bottom, 1) - 1, -1):
        d = np.empty_like(ys[l - 1])  # every layer above ``bottom`` passes a gradient down
        linear_small_grad(ys[l - 1], Ws[l], ys[l], g, acts[l], x.dtype.type(alphas[l]), d, dWs[l], dbs[l], True)
        g = d
    if bottom == 0:
        linear_small_grad(x, Ws[0], ys[0], g, acts[0], x.dtype.type(alphas[0]), dx, dWs[0], dbs[0], need_input)


# ---------------------------------------------------------------------------------------------- batch norm
# Column sums over rows: partial sums in the input's dtype over CHUNK rows at a time (full SIMD width), added
# into float64 totals after each chunk, so float32 rounding grows with CHUNK, not with the batch size.
CHUNK = 16


@_jit
def bn_sums(x, shift, s1, s2, r0, r1):
    """s1 += Σ(x − shift), s2 += Σ(x − shift)² over rows [r0, r1) (s1, s2 float64)."""
    c = x.shape[1]
    a1 = np.empty(c, x.dtype)
    a2 = np.empty(c, x.dtype)
    for k in range(r0, r1, CHUNK):
        a1[:] = 0
        a2[:] = 0
        for i in range(k, min(k + CHUNK, r1)):
            xr = x[i]
            for j in range(c):
                d = xr[j] - shift[j]
                a1[j] += d
                a2[j] += d * d
        for j in range(c):
            s1[j] += a1[j]
            s2[j] += a2[j]


@_jit
def bn_normalize(x, shift, scale, offset, y, r0, r1):
    """y = (x − shift)·scale + offset."""
    c = x.shape[1]
    for i in range(r0, r1):
        xr, yr = x[i], y[i]
        for j in range(c):
            yr[j] = (xr[j] - shift[j]) * scale[j] + offset[j]


@_jit
def bn_grad_sums(g, x, shift, sg, sgx, r0, r1):
    """sg += Σdy, sgx += Σdy·(x − shift) over rows [r0, r1) (sg, sgx float64; chunked as bn_sums)."""
    c = x.shape[1]
    a1 = np.empty(c, x.dtype)
    a2 = np.empty(c, x.dtype)
    for k in range(r0, r1, CHUNK):
        a1[:] = 0
        a2[:] = 0
        for i in range(k, min(k + CHUNK, r1)):
            gr, xr = g[i], x[i]
            for j in range(c):
                a1[j] += gr[j]
                a2[j] += gr[j] * (xr[j] - shift[j])
        for j in range(c):
            sg[j] += a1[j]
            sgx[j] += a2[j]


@_jit
def bn_dx(g, x, shift, a, b, cc, dx, r0, r1):
    """dx = a·dy + b·(x − shift) + cc (the closed form of the batch-norm input gradient)."""
    c = x.shape[1]
    for i in range(r0, r1):
        gr, xr, dr = g[i], x[i], dx[i]
        for j in range(c):
            dr[j] = a[j] * gr[j] + b[j] * (xr[j] - shift[j]) + cc[j]


# ---------------------------------------------------------------------------------------------- labels
# (the softmax + cross-entropy kernels are in _cpu_xent_kernels)
@_jit
def label_summary(t, n_classes, ignore_index, has_ignore):
    """(first entry outside [0, n_classes) that is not ignore_index, or −1; whether ignore_index occurs)."""
    ignored = False
    for i in range(t.size):
        v = t[i]
        if has_ignore and v == ignore_index:
            ignored = True
        elif v < 0 or v >= n_classes:
            return i, ignored
    return -1, ignored


# (the optimizer updates are in _cpu_optim_kernels)
