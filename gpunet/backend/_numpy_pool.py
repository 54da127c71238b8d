"""The NumPy backend's pooling ops and channels-first batch norm (compiled Numba kernels of
:mod:`._cpu_pool_kernels`): a mixin of :class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference
(:class:`~._pool_ops.PoolOps`), used for other dtypes and without Numba (``GPUNET_NUMBA=0``).

Measured (2 vCPUs, float32): moving the channel axis of (32, 64, 32·32) last, as the rows path of batch norm
does, costs NumPy 9-18 ms per copy (a 4 KiB input stride per output element), against 2-3 ms for the whole
channels-first forward."""
from __future__ import annotations

import numpy as np

from . import _numba, _parallel
from ._pool_ops import avg_divisor

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def kernels():
    """The module :mod:`._cpu_pool_kernels`, or None where the compiled CPU kernels are off."""
    if _numba.kernels() is None:
        return None
    from . import _cpu_pool_kernels

    return _cpu_pool_kernels


def _usable(*arrays) -> bool:
    return all(type(a) is np.ndarray and a.dtype in _FLOATS and a.flags.c_contiguous for a in arrays)


def _run(fn, B: int, per_plane: int) -> None:
    _parallel.run(fn, B, _parallel.parts(B, per_plane))


class NumpyPool:
    """Pooling on the CPU."""

    def max_pool2d_forward(self, x, geom):
        K = kernels()
        if K is None or not _usable(x):
            return super().max_pool2d_forward(x, geom)
        kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geom
        B, H, W = x.shape
        y = np.empty((B, oh, ow), x.dtype)
        idx = np.empty((B, oh, ow), np.int64)
        if geom[:8] == (2, 2, 2, 2, 0, 0, 1, 1) and 2 * oh <= H and 2 * ow <= W:
            _run(lambda k, b0, b1: K.max_pool2x2_fwd(x, y, idx, b0, b1), B, H * W)
        else:
            _run(lambda k, b0, b1: K.max_pool_fwd(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx, b0, b1), B, H * W)
        return y, idx

    def max_pool2d_backward(self, g, idx, in_hw, geom=None):
        K = kernels()
        if K is None or not _usable(g) or idx.dtype != np.int64:
            return super().max_pool2d_backward(g, idx, in_hw, geom)
        B = g.shape[0]
        H, W = in_hw
        gx = np.zeros((B, H * W), g.dtype)
        n = g.size // B if B else 0
        g2, i2 = g.reshape(B, n), np.ascontiguousarray(idx).reshape(B, n)
        _run(lambda k, b0, b1: K.max_pool_bwd(g2, i2, gx, b0, b1), B, H * W)
        return gx.reshape(B, H, W)

    def avg_pool2d_forward(self, x, geom, count_include_pad=True, divisor_override=None):
        K = kernels()
        if K is None or not _usable(x) or geom[6:8] != (1, 1):
            return super().avg_pool2d_forward(x, geom, count_include_pad, divisor_override)
        kh, kw, sh, sw, ph, pw, _, _, oh, ow = geom
        B, H, W = x.shape
        inv = (1.0 / avg_divisor(H, W, geom, count_include_pad, divisor_override)).astype(x.dtype)
        y = np.empty((B, oh, ow), x.dtype)
        _run(lambda k, b0, b1: K.avg_pool_fwd(x, kh, kw, sh, sw, ph, pw, inv, y, b0, b1), B, H * W)
        return y

    def avg_pool2d_backward(self, g, in_hw, geom, count_include_pad=True, divisor_override=None):
        K = kernels()
        if K is None or not _usable(g) or geom[6:8] != (1, 1):
            return super().avg_pool2d_backward(g, in_hw, geom, count_include_pad, divisor_override)
        kh, kw, sh, sw, ph, pw, _, _, oh, ow = geom
        H, W = in_hw
        B = g.shape[0]
        inv = (1.0 / avg_divisor(H, W, geom, count_include_pad, divisor_override)).astype(g.dtype)
        gx = np.zeros((B, H, W), g.dtype)
        _run(lambda k, b0, b1: K.avg_pool_bwd(g, kh, kw, sh, sw, ph, pw, inv, gx, b0, b1), B, H * W)
        return gx

    # ------------------------------------------------------------------ channels-first batch norm (BatchNorm2d)
    def batchnorm_cf_forward(self, x, gamma, beta, running_mean, running_var, training, momentum, eps):
        """On (N, C, L) in place of the rows copy: per channel one pass of shifted float64 sums (training), then
        one pass y = (x − shift)·a + b (eval: shift = running mean); the channels split over threads."""
        K = kernels()
        n, c, L = x.shape
        if K is None or not _usable(x, *(a for a in (gamma, beta) if a is not None)) or n * L == 0 or (
                gamma is not None and gamma.dtype != x.dtype) or (not training and running_mean is None):
            return super().batchnorm_cf_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps)
        m = n * L
        spans = _parallel.parts(c, m)
        if training:
            shift = np.ascontiguousarray(x[0, :, : min(L, 8)].mean(axis=1))
            s1, s2 = np.empty(c), np.empty(c)
            _parallel.run(lambda k, c0, c1: K.bn_cf_sums(x, shift, s1, s2, c0, c1), c, spans)
            dmean = s1 / m
            var = np.maximum(s2 / m - dmean * dmean, 0)
            invstd = 1.0 / np.sqrt(var + eps)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += (momentum * (shift + dmean)).astype(running_mean.dtype, copy=False)
                running_var *= 1 - momentum
                running_var += ((momentum * m / max(m - 1, 1)) * var).astype(running_var.dtype, copy=False)
        else:
            shift = running_mean.astype(x.dtype)
            dmean = np.zeros(c)
            invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
        scale = invstd * gamma if gamma is not None else invstd
        offset = -dmean * scale
        if beta is not None:
            offset += beta
        y = np.empty_like(x)
        a, b = scale.astype(x.dtype), offset.astype(x.dtype)
        _parallel.run(lambda k, c0, c1: K.bn_cf_affine(x, shift, a, b, y, c0, c1), c, spans)
        return y, CFSaved(x, shift, dmean, invstd, training)

    def batchnorm_cf_backward(self, saved, gamma, grad_y, training, need_x=True, need_affine=True):
        """Σdy and Σdy·(x − shift) per channel in one pass, then dx = A·dy + B·(x − shift) + C in one more (the
        closed form of (γ/σm)(m·dy − Σdy − x̂·Σdy·x̂); eval: dx = γ/σ·dy)."""
        if type(saved) is not CFSaved:
            return super().batchnorm_cf_backward(saved, gamma, grad_y, training, need_x, need_affine)
        K = kernels()
        x, shift, dmean, invstd = saved.x, saved.shift, saved.dmean, saved.invstd
        g = np.ascontiguousarray(grad_y, dtype=x.dtype)
        n, c, L = g.shape
        m = n * L
        spans = _parallel.parts(c, m)
        want_affine = need_affine and gamma is not None
        dgamma = dbeta = None
        if want_affine or (need_x and saved.training):
            sg, sgx = np.empty(c), np.empty(c)
            _parallel.run(lambda k, c0, c1: K.bn_cf_grad_sums(g, x, shift, sg, sgx, c0, c1), c, spans)
            dbeta = sg
            dgamma = (sgx - dmean * sg) * invstd
        dx = None
        if need_x:
            gam = gamma if gamma is not None else 1.0
            if saved.training:
                k_ = invstd * gam / m
                A = k_ * m
                B = -k_ * dgamma * invstd
                C = -k_ * dbeta - B * dmean
            else:
                A, B, C = invstd * gam, np.zeros(c), np.zeros(c)
            dx = np.empty_like(g)
            A, B, C = (np.asarray(v, dtype=x.dtype) for v in (A, B, C))
            _parallel.run(lambda k, c0, c1: K.bn_cf_dx(g, x, shift, A, B, C, dx, c0, c1), c, spans)
        if not want_affine:
            return dx, None, None
        return dx, dgamma.astype(x.dtype), dbeta.astype(x.dtype)


class CFSaved:
    """What the CPU channels-first batch norm keeps for backward: the input (alive anyway as the previous layer's
    output), the per-channel shift, the float64 offset of the mean from it (0 in eval) and 1/std."""
    __slots__ = ("x", "shift", "dmean", "invstd", "training")

    def __init__(self, x, shift, dmean, invstd, training):
        self.x, self.shift, self.dmean, self.invstd, self.training = x, shift, dmean, invstd, training
