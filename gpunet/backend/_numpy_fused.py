"""CPU fused ops: a GEMM into a fresh array, then compiled one-pass kernels over row spans, one span per core.

Each function matches the reference of the same name in :mod:`gpunet.backend.base` (tests compare them) and
takes float32/float64 C-contiguous 2-D input of one dtype; the NumPy backend checks that (``usable``) and calls
the reference otherwise. Passes over an (N, C) array: linear forward 1 after the GEMM (bias + activation), its
backward 1 before the GEMMs (activation derivative + bias gradient); batch norm 2 forward (shifted float64 sums,
then normalise/scale/shift) and 2 backward (Σdy and Σdy·x̂, then dx); softmax + cross-entropy 1 each way
(:mod:`._cpu_xent_kernels`: forward row by row, its max / exp / sum / scale passes over a row held in cache).
"""
from __future__ import annotations

import numpy as np

from . import _malloc, _numba, _parallel
from . import _numpy_gemm as _gemm

# activations done here (by code, see _cpu_kernels); the rest (GELU, SiLU) use the reference
FAST_ACTS = {None: 0, "identity": 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4}


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # native byte order (Numba takes no other)


def usable(first, *others) -> bool:
    """Compiled kernels available, and the arrays (None skipped among ``others``) float32/float64 in native byte
    order, C-contiguous, of one dtype."""
    if type(first) is not np.ndarray or first.dtype not in _FLOATS or not first.flags.c_contiguous \
            or _numba.kernels() is None:
        return False
    dt = first.dtype
    for a in others:
        if a is not None and (type(a) is not np.ndarray or a.dtype != dt or not a.flags.c_contiguous):
            return False
    return True


class Saved:
    """What the CPU fused linear keeps for backward: the output ``y`` (relu/leaky route by y > 0, sigmoid and
    tanh differentiate through y). A distinct type, so backward never mistakes it for the reference's."""
    __slots__ = ("y",)

    def __init__(self, y):
        self.y = y


def _partials(nspans: int, c: int, dtype):
    """Per-span partial column sums: ``parts[k]`` is span k's row (a 1-row view of a fresh array for one span,
    so its total below is an array of its own, not a view of a bigger one)."""
    return np.zeros(c, dtype)[None] if nspans == 1 else np.zeros((nspans, c), dtype)


def _total(parts):
    return parts.base if len(parts) == 1 else parts.sum(axis=0)


# Layers with at most this many multiply-adds (n · in · out) run as one compiled call each way, no BLAS.
SMALL_LINEAR_MAX = 4096


def linear_act_forward(x, W, b, act, alpha):
    K = _numba.kernels()
    code = FAST_ACTS[act]
    n, d = x.shape
    c = W.shape[0]
    small = n * d * c <= SMALL_LINEAR_MAX
    if not small and code == 0 and b is None:
        z = _gemm.matmul(x, W.T)
        return z, Saved(z)
    bias = b if b is not None else np.zeros(c, x.dtype)
    a = x.dtype.type(alpha)
    if small:
        y = np.empty((n, c), x.dtype)
        K.linear_small(x, W, bias, code, a, y)
        return y, Saved(y)
    z = _gemm.matmul(x, W.T)
    _parallel.run(lambda k, r0, r1: K.bias_act(z, bias, code, a, r0, r1), n, _parallel.parts(n, c))
    return z, Saved(z)


def linear_act_backward(x, W, saved, grad_y, act, alpha, need_x, need_W, need_b, overwrite_grad=False):
    """``overwrite_grad`` (or a copy made here to make the gradient contiguous): dz is written over the gradient,
    which saves a fresh (N, C) array and a third of the pass's memory traffic."""
    K = _numba.kernels()
    y = saved.y
    g = np.ascontiguousarray(grad_y, dtype=y.dtype)
    n, c = g.shape
    code = FAST_ACTS[act]
    if n * x.shape[1] * c <= SMALL_LINEAR_MAX:
        dW, db = np.empty_like(W), np.empty(c, g.dtype)
        dx = np.empty_like(x) if need_x else x
        K.linear_small_grad(x, W, y, g, code, g.dtype.type(alpha), dx, dW, db, bool(need_x))
        return (dx if need_x else None), (dW if need_W else None), (db if need_b else None)
    db = None
    if code == 0:
        dz = g
        if need_b:
            db = g.sum(axis=0)
    else:
        t = _parallel.parts(n, c)
        parts = _partials(t, c, g.dtype)
        a = g.dtype.type(alpha)
        if overwrite_grad or (g is not grad_y and g.base is None):  # a copy made just above is ours too
            dz = g
            _parallel.run(lambda k, r0, r1: K.act_grad_bias_inplace(g, y, parts[k], code, a, r0, r1), n, t)
        else:
            dz = np.empty_like(g)
            _parallel.run(lambda k, r0, r1: K.act_grad_bias(g, y, dz, parts[k], code, a, r0, r1), n, t)
        if need_b:
            db = _total(parts)
    dx = _gemm.matmul(dz, W) if need_x else None
    dW = _gemm.matmul(dz.T, x) if need_W else None
    return dx, dW, db


class ChainSaved:
    """What the CPU small-layer chain keeps for backward: its input, weights, every layer's output (relu/leaky
    route by y > 0, sigmoid and tanh differentiate through y), and the activation codes and slopes."""
    __slots__ = ("x", "Ws", "ys", "acts", "alphas")

    def __init__(self, x, Ws, ys, acts, alphas):
        self.x, self.Ws, self.ys, self.acts, self.alphas = x, Ws, ys, acts, alphas


def linear_chain_forward(x, params, acts, alphas):
    """The layers of a chain in ONE compiled call, or None (nothing done) unless every layer fits the
    small-layer kernels: activation done here, at most ``SMALL_LINEAR_MAX`` multiply-adds, every array usable
    by them and the weights and biases writeable (Numba types a read-only array apart, and a tuple of mixed
    types cannot be indexed in a loop). Shapes are already checked."""
    if x.ndim != 2 or not usable(x, *params):
        return None
    n, d = x.shape
    dt = x.dtype
    Ws, bs, ys, codes, slopes = [], [], [], [], []
    for i, act in enumerate(acts):
        W, b = params[2 * i], params[2 * i + 1]
        c = W.shape[0]
        code = FAST_ACTS.get(act)
        slope = float(alphas[i])
        if code is None or n * d * c > SMALL_LINEAR_MAX or (act == "leaky_relu" and not 0 < slope <= 1) \
                or not W.flags.writeable or (b is not None and not b.flags.writeable):
            return None
        Ws.append(W)
        bs.append(b if b is not None else np.zeros(c, dt))
        ys.append(np.empty((n, c), dt))
        codes.append(code)
        slopes.append(slope)
        d = c
    Ws, ys, codes, slopes = tuple(Ws), tuple(ys), tuple(codes), tuple(slopes)
    _numba.kernels().linear_chain_small(x, Ws, tuple(bs), codes, slopes, ys)
    return ys[-1], ChainSaved(x, Ws, ys, codes, slopes)


def linear_chain_backward(saved, grad_y, needs):
    """Gradients of :func:`linear_chain_forward` for ``(x, W_1, b_1, …)`` (None where ``needs`` says no), in one
    compiled call. The layers below the lowest one whose parameters need a gradient run no backward."""
    x, Ws = saved.x, saved.Ws
    top = len(Ws) - 1
    bottom = 0
    while bottom < top and True not in needs[: 2 * bottom + 3]:  # nothing at or below layer `bottom` needs one
        bottom += 1
    need_input = bool(needs[0])
    dt = x.dtype
    g = np.ascontiguousarray(grad_y, dtype=dt)
    dWs, dbs = [], []
    for W in Ws:
        dWs.append(np.empty(W.shape, dt))
        dbs.append(np.empty(W.shape[0], dt))
    dx = np.empty(x.shape, dt) if need_input else x
    _numba.kernels().linear_chain_small_grad(x, Ws, saved.ys, g, saved.acts, saved.alphas, bottom, need_input,
                                             tuple(dWs), tuple(dbs), dx)
    grads = [dx if need_input else None]
    for i in range(len(Ws)):
        grads += (dWs[i] if needs[2 * i + 1] else None, dbs[i] if needs[2 * i + 2] else None)
    return grads


class BNSaved:
    """What the CPU batch norm keeps for backward: the input itself (alive anyway as the previous layer's
    output, so no new memory), the shift, and the float64 offset of the mean from it and 1/std; x̂ is never
    stored."""
    __slots__ = ("x", "shift", "dmean", "invstd")

    def __init__(self, x, shift, dmean, invstd):
        self.x, self.shift, self.dmean, self.invstd = x, shift, dmean, invstd


def batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps):
    """Shifted sums in float64 (mean and variance without cancellation when |mean| >> std; the shift is the
    mean of the first rows), then y = (x − shift)·s + o with s = γ/σ, o = β − Δmean·s."""
    K = _numba.kernels()
    n, c = x.shape
    shift = x[: min(n, 8)].mean(axis=0)
    t = _parallel.parts(n, c)
    s1, s2 = _partials(t, c, np.float64), _partials(t, c, np.float64)
    _parallel.run(lambda k, r0, r1: K.bn_sums(x, shift, s1[k], s2[k], r0, r1), n, t)
    dmean = _total(s1) / n
    var = _total(s2) / n - dmean * dmean
    np.maximum(var, 0, out=var)
    invstd = 1.0 / np.sqrt(var + eps)
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += (momentum * (shift + dmean)).astype(running_mean.dtype, copy=False)
        running_var *= 1 - momentum
        running_var += ((momentum * n / max(n - 1, 1)) * var).astype(running_var.dtype, copy=False)
    scale = invstd * gamma if gamma is not None else invstd
    offset = -dmean * scale
    if beta is not None:
        offset += beta
    scale, offset = scale.astype(x.dtype), offset.astype(x.dtype)
    y = np.empty_like(x)
    _parallel.run(lambda k, r0, r1: K.bn_normalize(x, shift, scale, offset, y, r0, r1), n, t)
    return y, BNSaved(x, shift, dmean, invstd)


def batchnorm_backward_train(saved, gamma, g, need_x):
    """Σdy and Σdy·x̂ = (Σdy·(x − shift) − Δmean·Σdy)/σ in one pass (float64 sums); then
    dx = A·dy + B·(x − shift) + C, the closed form of (γ/σN)(N·dy − Σdy − x̂·Σdy·x̂), in one more."""
    K = _numba.kernels()
    x, shift, dmean, invstd = saved.x, saved.shift, saved.dmean, saved.invstd
    n, c = g.shape
    t = _parallel.parts(n, c)
    sg, sgx = _partials(t, c, np.float64), _partials(t, c, np.float64)
    _parallel.run(lambda k, r0, r1: K.bn_grad_sums(g, x, shift, sg[k], sgx[k], r0, r1), n, t)
    dbeta = _total(sg)
    dgamma = (_total(sgx) - dmean * dbeta) * invstd
    dx = None
    if need_x:
        k_ = invstd * gamma / n if gamma is not None else invstd / n
        A = (k_ * n).astype(x.dtype)
        B = -k_ * dgamma * invstd
        C = (-k_ * dbeta - B * dmean).astype(x.dtype)
        B = B.astype(x.dtype)
        dx = np.empty_like(g)
        _parallel.run(lambda k, r0, r1: K.bn_dx(g, x, shift, A, B, C, dx, r0, r1), n, t)
    return dx, dgamma.astype(x.dtype), dbeta.astype(x.dtype)


_xent = None


def _xent_kernels():
    """The softmax + cross-entropy kernels (imported on first use, as the compiled kernels are)."""
    global _xent
    if _xent is None:
        from . import _cpu_xent_kernels as _xent
    return _xent


def softmax_xent_forward(logits, target):
    """One compiled call per span of rows (float32 exp vectorised, see :mod:`._cpu_xent_kernels`), spans over
    the threads when the logits are large."""
    X = _xent_kernels()
    n, c = logits.shape
    loss = np.empty(n, logits.dtype)
    probs = _malloc.empty(logits.shape, logits.dtype)
    fast = logits.dtype == np.float32
    nparts = _parallel.parts(n, c)
    if nparts == 1:
        bad = [X.softmax_xent(logits, target, loss, probs, 0, n, fast)]
    else:
        bad = [-1] * nparts

        def span(k, r0, r1):
            bad[k] = X.softmax_xent(logits, target, loss, probs, r0, r1, fast)

        _parallel.run(span, n, nparts)
    for b in bad:
        if b >= 0:
            raise IndexError(f"softmax_xent_forward: target {int(target[b])} at row {b} is outside [0, {c})")
    return loss, probs


def softmax_xent_backward(probs, target, grad_rows):
    X = _xent_kernels()
    w = np.ascontiguousarray(grad_rows, dtype=probs.dtype).reshape(-1)
    if w.size != 1 and w.size != probs.shape[0]:
        raise ValueError(f"softmax_xent_backward: grad_rows of shape {np.shape(grad_rows)} does not fit "
                         f"{probs.shape[0]} rows")
    d = _malloc.empty(probs.shape, probs.dtype)
    n, c = probs.shape
    stride = 0 if w.size == 1 else 1
    nparts = _parallel.parts(n, c // 4)  # a light pass: two threads paid from ~4 M logits, not 1 M (measured)
    if nparts == 1:
        X.softmax_xent_grad(probs, target, w, stride, d, 0, n)
    else:
        _parallel.run(lambda k, r0, r1: X.softmax_xent_grad(probs, target, w, stride, d, r0, r1), n, nparts)
    return d
