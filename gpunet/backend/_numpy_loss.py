"""The NumPy backend's loss ops (compiled CPU kernels of :mod:`._cpu_loss_kernels`): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._loss_ops.LossOps`).

The kernels take float32/float64 C-contiguous arrays of one dtype and one shape (no broadcasting); anything else,
and every op when Numba is off (``GPUNET_NUMBA=0``), goes to the reference. Mean squared error: ONE pass forward
(the sum of squares, or the elementwise squares), ONE pass backward writing both gradients, elements split over
threads in contiguous spans; the forward's span totals are float64, added here.
"""
from __future__ import annotations

import numpy as np

from . import _numba, _parallel
from ._numpy_fused import usable

_K = None


def _kernels():
    """:mod:`._cpu_loss_kernels`, or None when the compiled kernels cannot run (imported on first use)."""
    global _K
    if _K is None and _numba.kernels() is not None:
        from . import _cpu_loss_kernels

        _K = _cpu_loss_kernels
    return _K


def _fits(x, y, *more) -> bool:
    return x.size > 0 and x.shape == y.shape and usable(x, y, *more)


class NumpyLoss:
    """Loss ops on the CPU."""

    # ----------------------------------------------------------------- mean squared error
    def mse_forward(self, x, y, reduction: str):
        if not _fits(x, y):
            return super().mse_forward(x, y, reduction)
        xf, yf = x.reshape(-1), y.reshape(-1)
        if reduction != "none":
            return self._reduced_squares(xf, yf, reduction, x.dtype)
        K = _kernels()
        out = np.empty_like(x)
        of = out.reshape(-1)
        _parallel.run(lambda k, lo, hi: K.sqdiff(xf, yf, lo, hi, of), x.size, _parallel.parts(x.size))
        return out

    def _reduced_squares(self, af, bf, reduction: str, dtype, c=None, gf=None):
        """Σ(a − b)² over the flat ``af``, ``bf`` ('sum') or its mean, a 0-d array of ``dtype``; with ``gf``, the
        same pass writes gf = (a − b)·c. The spans (:func:`._parallel.parts` of the size) and their float64
        totals do not depend on ``gf``: both forms give the same loss."""
        K = _kernels()
        n = af.size
        nparts = _parallel.parts(n)
        totals = np.zeros(nparts)
        if gf is None:
            _parallel.run(lambda k, lo, hi: K.sqdiff_sum(af, bf, lo, hi, totals, k), n, nparts)
        else:
            _parallel.run(lambda k, lo, hi: K.sqdiff_sum_grad(af, bf, c, lo, hi, totals, k, gf), n, nparts)
        s = float(totals.sum())
        return np.asarray(s if reduction == "sum" else s / n, dtype=dtype)

    def mse_forward_grad(self, x, y, reduction: str, n: int, need_x: bool):
        """The sum of squares and the upstream-1 gradient in ONE pass (the backward's pass is saved when the
        upstream gradient is 1, as for ``loss.backward()``)."""
        if reduction == "none" or not _fits(x, y):
            return super().mse_forward_grad(x, y, reduction, n, need_x)
        c = x.dtype.type(2.0 if reduction == "sum" else 2.0 / n)  # as mse_backward's for g = 1
        a, b = (x, y) if need_x else (y, x)  # dy = (y − x)·c: the same rounding as mse_backward's
        grad = np.empty_like(x)
        loss = self._reduced_squares(a.reshape(-1), b.reshape(-1), reduction, x.dtype, c, grad.reshape(-1))
        return loss, grad

    def mse_backward(self, x, y, g, reduction: str, n: int, need_x: bool, need_y: bool):
        none = reduction == "none"
        if not _fits(x, y, g if none else None) or (none and g.shape != x.shape):
            return super().mse_backward(x, y, g, reduction, n, need_x, need_y)
        K = _kernels()
        dt = x.dtype.type
        xf, yf = x.reshape(-1), y.reshape(-1)
        stub = np.empty(1, x.dtype)
        dx = np.empty_like(x) if need_x else None
        dy = np.empty_like(x) if need_y else None
        dxf = stub if dx is None else dx.reshape(-1)
        dyf = stub if dy is None else dy.reshape(-1)
        nparts = _parallel.parts(x.size, 3 if none else 2)
        if none:
            gf = g.reshape(-1)
            c = dt(2)
            _parallel.run(lambda k, lo, hi: K.mse_grad_none(xf, yf, gf, c, lo, hi, dxf, dyf, need_x, need_y),
                          x.size, nparts)
        else:
            c = dt(float(g) * 2 if reduction == "sum" else float(g) * 2 / n)
            _parallel.run(lambda k, lo, hi: K.mse_grad(xf, yf, c, lo, hi, dxf, dyf, need_x, need_y),
                          x.size, nparts)
        return dx, dy
