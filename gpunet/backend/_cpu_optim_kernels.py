"""Compiled CPU kernels (Numba) of the optimizer updates, one pass each over elements [i0, i1) of a parameter
and its state (:mod:`._numpy_optim` splits a large parameter over the cores). Imported only where the compiled
kernels run (:func:`gpunet.backend._numba.kernels` is not None).
"""
from __future__ import annotations

import numpy as np

from ._cpu_kernels import _inline, _jit


# Each update walks elements [i0, i1) of 1-D arrays once. The hyper-parameters come packed in ``hp``, one small
# array of the parameter's dtype (flags as 0/1): one argument for Numba to type instead of a dozen, which is most
# of a call's cost on a small model. ``wd`` is the L2 weight decay added to the gradient (0 for none), ``sign``
# −1 when maximizing, else 1. Formulas as gpunet.optim._functional.

@_jit
def sgd(p, grad, buf, hp, i0, i1):
    """hp = [lr, momentum, 1 − dampening, wd, sign, has_momentum, init_buffer, nesterov]; ``buf`` is unused
    (any array of p's size) without momentum."""
    lr, momentum, damp1, wd, sign = hp[0], hp[1], hp[2], hp[3], hp[4]
    has_momentum, init_buffer, nesterov = hp[5] != 0, hp[6] != 0, hp[7] != 0
    p, grad, buf = p[i0:i1], grad[i0:i1], buf[i0:i1]
    if not has_momentum:  # one loop per case: a conditional store inside a loop stops it vectorising
        for i in range(p.size):
            p[i] = p[i] - lr * _decayed_grad(p[i], grad[i], wd, sign)
    elif init_buffer:
        for i in range(p.size):
            g = _decayed_grad(p[i], grad[i], wd, sign)
            buf[i] = g
            p[i] = p[i] - lr * (g * momentum + g if nesterov else g)
    else:
        for i in range(p.size):
            g = _decayed_grad(p[i], grad[i], wd, sign)
            b = buf[i] * momentum + damp1 * g
            buf[i] = b
            p[i] = p[i] - lr * (b * momentum + g if nesterov else b)


@_inline
def _lerp(a, b, w, wc):
    """a + w·(b − a) as torch.lerp evaluates it: from ``a`` when w < 0.5, else b − (1 − w)·(b − a) with
    ``wc`` = 1 − w (the caller passes wc < 0 to say w < 0.5)."""
    if wc < 0:
        return a + (b - a) * w
    return b - (b - a) * wc


@_inline
def _decayed_grad(p, grad, wd, sign):
    """±grad + λ·θ (λ = 0: ±grad exactly, as the reference, which skips the term)."""
    g = sign * grad
    return p * wd + g if wd != 0 else g


@_jit
def adam(p, grad, m, v, vmax, hp, i0, i1):
    """hp = [decay, wd, sign, w1, w1c, β₂, w2, step_size, √(1 − β₂ᵗ), eps, amsgrad]: ``decay`` is AdamW's
    θ·(1 − lr·λ) factor (1 for none), ``w1`` = 1 − β₁ and ``w1c`` as in :func:`_lerp`, ``w2`` = 1 − β₂."""
    decay, wd, sign, w1, w1c, beta2, w2 = hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6]
    step_size, bc2_sqrt, eps, amsgrad = hp[7], hp[8], hp[9], hp[10] != 0
    p, grad, m, v, vmax = p[i0:i1], grad[i0:i1], m[i0:i1], v[i0:i1], vmax[i0:i1]
    if amsgrad:  # a conditional store inside the loop would stop it vectorising: one loop per case
        for i in range(p.size):
            pv = p[i] * decay
            g = _decayed_grad(pv, grad[i], wd, sign)
            mv = _lerp(m[i], g, w1, w1c)
            m[i] = mv
            vv = v[i] * beta2 + (g * w2) * g
            v[i] = vv
            vv = max(vmax[i], vv)
            vmax[i] = vv
            p[i] = pv + (mv / (np.sqrt(vv) / bc2_sqrt + eps)) * (-step_size)
    else:
        for i in range(p.size):
            pv = p[i] * decay
            g = _decayed_grad(pv, grad[i], wd, sign)
            mv = _lerp(m[i], g, w1, w1c)
            m[i] = mv
            vv = v[i] * beta2 + (g * w2) * g
            v[i] = vv
            p[i] = pv + (mv / (np.sqrt(vv) / bc2_sqrt + eps)) * (-step_size)


@_jit
def adagrad(p, grad, ssum, hp, i0, i1):
    """hp = [clr, wd, sign, eps]."""
    clr, wd, sign, eps = hp[0], hp[1], hp[2], hp[3]
    p, grad, ssum = p[i0:i1], grad[i0:i1], ssum[i0:i1]
    for i in range(p.size):
        g = _decayed_grad(p[i], grad[i], wd, sign)
        s = ssum[i] + g * g
        ssum[i] = s
        p[i] = p[i] + (g / (np.sqrt(s) + eps)) * (-clr)


@_jit
def rmsprop(p, grad, sq, gavg, buf, hp, i0, i1):
    """hp = [lr, α, w, wc, wd, sign, eps, centered, momentum]: ``w`` = 1 − α, ``wc`` as in :func:`_lerp`;
    ``gavg`` / ``buf`` unused unless centered / momentum > 0. One loop per case (a conditional store inside a
    loop stops it vectorising), each one pass."""
    lr, alpha, w, wc, wd, sign, eps = hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6]
    centered, momentum = hp[7] != 0, hp[8]
    p, grad, sq, gavg, buf = p[i0:i1], grad[i0:i1], sq[i0:i1], gavg[i0:i1], buf[i0:i1]
    if centered and momentum > 0:
        for i in range(p.size):
            g = _decayed_grad(p[i], grad[i], wd, sign)
            s = sq[i] * alpha + (g * w) * g
            sq[i] = s
            a = _lerp(gavg[i], g, w, wc)
            gavg[i] = a
            bv = buf[i] * momentum + g / (np.sqrt(s - a * a) + eps)
            buf[i] = bv
            p[i] = p[i] + bv * (-lr)
    elif centered:
        for i in range(p.size):
            g = _decayed_grad(p[i], grad[i], wd, sign)
            s = sq[i] * alpha + (g * w) * g
            sq[i] = s
            a = _lerp(gavg[i], g, w, wc)
            gavg[i] = a
            p[i] = p[i] + (g / (np.sqrt(s - a * a) + eps)) * (-lr)
    elif momentum > 0:
        for i in range(p.size):
            g = _decayed_grad(p[i], grad[i], wd, sign)
            s = sq[i] * alpha + (g * w) * g
            sq[i] = s
            bv = buf[i] * momentum + g / (np.sqrt(s) + eps)
            buf[i] = bv
            p[i] = p[i] + bv * (-lr)
    else:
        for i in range(p.size):
            g = _decayed_grad(p[i], grad[i], wd, sign)
            s = sq[i] * alpha + (g * w) * g
            sq[i] = s
            p[i] = p[i] + (g / (np.sqrt(s) + eps)) * (-lr)


@_jit
def adadelta(p, grad, sq, acc, hp, i0, i1):
    """hp = [lr, ρ, w, wd, sign, eps] with ``w`` = 1 − ρ."""
    lr, rho, w, wd, sign, eps = hp[0], hp[1], hp[2], hp[3], hp[4], hp[5]
    p, grad, sq, acc = p[i0:i1], grad[i0:i1], sq[i0:i1], acc[i0:i1]
    for i in range(p.size):
        g = _decayed_grad(p[i], grad[i], wd, sign)
        s = sq[i] * rho + (g * w) * g
        sq[i] = s
        delta = np.sqrt(acc[i] + eps) / np.sqrt(s + eps) * g
        acc[i] = acc[i] * rho + (delta * w) * delta
        p[i] = p[i] + delta * (-lr)
