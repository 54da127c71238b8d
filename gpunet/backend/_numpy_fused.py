"""CPU fused ops: in-place ufunc sequences over cache-sized row blocks, spread over the cores.

Each function matches the reference of the same name in :mod:`gpunet.backend.base` (tests compare them) and
handles float32/float64 C-contiguous 2-D input; the caller falls back to the reference otherwise.
"""
from __future__ import annotations

import numpy as np

from . import _parallel
from ._parallel import run_blocked

# activations done in place here; the rest (exact GELU needs erf) use the reference
FAST_ACTS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", None)


class Saved:
    """What the CPU fused linear keeps for backward: the output ``y`` (relu/leaky route by y > 0, sigmoid and
    tanh differentiate through y). A distinct type, so backward never mistakes it for the reference's."""
    __slots__ = ("y",)

    def __init__(self, y):
        self.y = y


def _rows(ncols: int) -> int:
    return max(1, _parallel.BLOCK // max(ncols, 1))


def _over_rows(fn, nrows: int, ncols: int):
    """Run ``fn(r0, r1)`` over row blocks of an (nrows, ncols) array; returns the per-block results."""
    rows = _rows(ncols)
    if nrows <= rows:
        return [fn(0, nrows)]
    return run_blocked(fn, nrows, block=rows)


def _sum_partials(parts):
    out = parts[0]
    for p in parts[1:]:
        out += p
    return out


def linear_act_forward(x, W, b, act, alpha):
    z = np.matmul(x, W.T)
    n, c = z.shape

    def block(r0, r1):
        zb = z[r0:r1]
        if b is not None:
            zb += b
        if act == "relu":
            np.maximum(zb, 0, out=zb)
        elif act == "leaky_relu":
            np.maximum(zb, zb * alpha, out=zb)
        elif act == "sigmoid":
            with np.errstate(over="ignore"):
                np.negative(zb, out=zb)
                np.exp(zb, out=zb)
            zb += 1
            np.reciprocal(zb, out=zb)
        elif act == "tanh":
            np.tanh(zb, out=zb)

    _over_rows(block, n, c)
    return z, Saved(z)


def linear_act_backward(x, W, saved, g, act, alpha, need_x, need_W, need_b):
    y = saved.y
    g = np.ascontiguousarray(g, dtype=y.dtype)
    n, c = g.shape
    if act in ("identity", None):
        dz = g
        db = g.sum(axis=0) if need_b else None
    else:
        dz = np.empty_like(g)

        def block(r0, r1):
            gb, yb, db_ = g[r0:r1], y[r0:r1], dz[r0:r1]
            if act == "relu":
                np.multiply(gb, yb > 0, out=db_)
            elif act == "leaky_relu":
                np.multiply(gb, alpha, out=db_)
                np.copyto(db_, gb, where=yb > 0)
            elif act == "sigmoid":
                np.subtract(1, yb, out=db_)
                db_ *= yb
                db_ *= gb
            elif act == "tanh":
                np.multiply(yb, yb, out=db_)
                np.subtract(1, db_, out=db_)
                db_ *= gb
            return db_.sum(axis=0) if need_b else None

        parts = _over_rows(block, n, c)
        db = _sum_partials(parts) if need_b else None
    dx = np.matmul(dz, W) if need_x else None
    dW = np.matmul(dz.T, x) if need_W else None
    return dx, dW, db


class BNSaved:
    """What the CPU batch norm keeps for backward: the input itself (alive anyway as the previous layer's
    output, so no new memory), the shift, the mean's offset from it and 1/std; x̂ is recomputed block by block."""
    __slots__ = ("x", "shift", "dmean", "invstd")

    def __init__(self, x, shift, dmean, invstd):
        self.x, self.shift, self.dmean, self.invstd = x, shift, dmean, invstd


def batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps):
    """Two passes: shifted sums (mean and variance without cancellation when |mean| >> std), then
    y = (x − shift)·s + o with s = γ/σ, o = β − Δmean·s (3 ufuncs a block)."""
    n, c = x.shape
    shift = x[: min(n, 8)].mean(axis=0)

    def stats(r0, r1):
        d = x[r0:r1] - shift
        s1 = d.sum(axis=0)
        d *= d
        return s1, d.sum(axis=0)

    parts = _over_rows(stats, n, c)
    s1 = _sum_partials([p[0] for p in parts])
    s2 = _sum_partials([p[1] for p in parts])
    dmean = s1 / n
    var = s2 / n - dmean * dmean
    np.maximum(var, 0, out=var)
    invstd = 1.0 / np.sqrt(var + eps)
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * (shift + dmean).astype(running_mean.dtype, copy=False)
        running_var *= 1 - momentum
        running_var += (momentum * n / max(n - 1, 1)) * var.astype(running_var.dtype, copy=False)
    scale = invstd * gamma if gamma is not None else invstd
    offset = -dmean * scale
    if beta is not None:
        offset += beta
    y = np.empty_like(x)

    def norm(r0, r1):
        yb = y[r0:r1]
        np.subtract(x[r0:r1], shift, out=yb)
        yb *= scale
        yb += offset

    _over_rows(norm, n, c)
    return y, BNSaved(x, shift, dmean, invstd)


def batchnorm_backward_train(saved, gamma, g, need_x):
    """Σdy and Σdy·x̂ = (Σdy·(x − shift) − Δmean·Σdy)/σ in one pass; then
    dx = A·dy + B·(x − shift) + C, the closed form of (γ/σN)(N·dy − Σdy − x̂·Σdy·x̂), in one more."""
    x, shift, dmean, invstd = saved.x, saved.shift, saved.dmean, saved.invstd
    n, c = g.shape

    def sums(r0, r1):
        gb = g[r0:r1]
        t = x[r0:r1] - shift
        t *= gb
        return gb.sum(axis=0), t.sum(axis=0)

    parts = _over_rows(sums, n, c)
    dbeta = _sum_partials([p[0] for p in parts])
    sgx = _sum_partials([p[1] for p in parts])
    dgamma = (sgx - dmean * dbeta) * invstd
    dx = None
    if need_x:
        k = invstd * gamma / n if gamma is not None else invstd / n
        A = k * n
        B = -k * dgamma * invstd
        C = -k * dbeta - B * dmean
        dx = np.empty_like(g)

        def dxb(r0, r1):
            out = dx[r0:r1]
            t = x[r0:r1] - shift
            t *= B
            np.multiply(g[r0:r1], A, out=out)
            out += t
            out += C

        _over_rows(dxb, n, c)
    return dx, dgamma, dbeta
