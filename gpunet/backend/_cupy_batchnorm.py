"""The CuPy backend's batch norm (``kernels/batchnorm.cu``): a mixin of :class:`~.cupy_backend.CupyBackend`, which
supplies ``xp`` and the guards ``_fusable``, ``_dense`` and ``_unused``; ``super()`` is the reference
(:class:`~.base.Backend`), for what the kernels do not handle. ``saved`` is the reference's ``(x_hat, invstd)``.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._cuda_launch import _grid_1d, _grid_columns, column_totals, finish_totals


class CupyBatchNorm:
    """Batch norm over axis 0 of a 2-D array, on the CUDA kernels."""

    def batchnorm_forward(self, x, gamma, beta, running_mean, running_var, training: bool,
                          momentum: float, eps: float):
        """Training: ONE pass of per-thread Welford + Chan merge (plus a tiny merge of the block partials when
        the batch spans several rows of blocks; running statistics updated there, in place); evaluation: a tiny
        invstd kernel. Then ONE pass ``x̂ = (x − μ)·invstd``, ``y = x̂·γ + β``."""
        has_running = running_mean is not None and running_var is not None
        if (x.ndim != 2 or (gamma is None) != (beta is None) or (not training and not has_running)
                or (training and has_running and momentum is None)
                or not self._fusable(x, gamma, beta, running_mean, running_var)):
            return super().batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps)
        xp = self.xp
        rows, cols = x.shape
        T = x.dtype.type
        invstd = xp.empty(cols, dtype=x.dtype)
        if training:
            mean = self._batch_stats(x, invstd, running_mean, running_var, has_running, momentum, eps)
        else:
            mean = running_mean
            grid, block = _grid_1d(cols)
            K.kernel("bn_invstd")(x.dtype)(grid, block, (running_var, invstd, np.int64(cols), T(eps)))
        affine = gamma is not None
        y = xp.empty_like(x)
        xhat = xp.empty_like(x) if affine else y
        grid, block = _grid_1d(x.size)
        K.kernel("bn_normalize")(x.dtype)(grid, block, (
            x, mean, invstd, gamma if affine else x, beta if affine else x, xhat, y, np.int64(x.size),
            np.int64(cols), np.int32(affine)))
        return y, (xhat, invstd)

    def _batch_stats(self, x, invstd, running_mean, running_var, has_running, momentum, eps):
        """Batch mean (returned) and invstd (written) of x's columns; running statistics updated in place."""
        xp = self.xp
        rows, cols = x.shape
        T = x.dtype.type
        mean = xp.empty(cols, dtype=x.dtype)
        grid, block = _grid_columns(rows, cols)
        parts = grid[1]
        if parts > 1:
            ws_n = xp.empty((parts, cols), dtype=xp.int64)
            ws_mean = xp.empty((parts, cols), dtype=x.dtype)
            ws_m2 = xp.empty((parts, cols), dtype=x.dtype)
        else:
            ws_mean = ws_m2 = mean  # not touched: the single row of blocks finalizes itself
            ws_n = self._unused(np.int64)
        rm = running_mean if has_running else mean
        rv = running_var if has_running else mean
        hyper = (np.int32(has_running), T(0.0 if momentum is None else momentum), T(eps),
                 T(rows / max(rows - 1, 1)))
        K.kernel("bn_stats")(x.dtype)(grid, block, (
            x, np.int64(rows), np.int64(cols), ws_n, ws_mean, ws_m2, mean, invstd, rm, rv) + hyper,
            shared_mem=block[0] * block[1] * (8 + 2 * x.itemsize))
        if parts > 1:
            g1, b1 = _grid_1d(cols)
            K.kernel("bn_finalize")(x.dtype)(g1, b1, (
                x, ws_n, ws_mean, ws_m2, np.int64(parts), np.int64(cols), mean, invstd, rm, rv) + hyper)
        return mean

    def batchnorm_backward(self, saved, gamma, grad_y, training: bool,
                           need_x: bool = True, need_affine: bool = True):
        """ONE reduction pass (Σdy, Σdy·x̂ per feature; skipped when not needed; plus a fixed-order second pass
        in deterministic mode, see :func:`._cuda_launch.column_totals`), then ONE pass for dx."""
        xhat, invstd = saved
        if (grad_y.ndim != 2 or not isinstance(grad_y, self.xp.ndarray) or grad_y.shape != xhat.shape
                or not self._fusable(xhat, invstd, gamma) or grad_y.dtype != xhat.dtype):
            return super().batchnorm_backward(saved, gamma, grad_y, training, need_x, need_affine)
        xp = self.xp
        g = self._dense(grad_y, xhat.dtype)
        rows, cols = g.shape
        has_gamma = gamma is not None
        dgamma = dbeta = None
        if (need_x and training) or (need_affine and has_gamma):
            grid, block = _grid_columns(rows, cols)
            dbeta, beta_dst, ld = column_totals(xp, grid, cols, g.dtype)
            dgamma, gamma_dst, _ = column_totals(xp, grid, cols, g.dtype)
            K.kernel("bn_backward_reduce")(g.dtype)(grid, block, (
                g, xhat, beta_dst, gamma_dst, np.int64(rows), np.int64(cols), np.int64(ld)),
                shared_mem=2 * block[0] * block[1] * g.itemsize)
            finish_totals(dbeta, beta_dst)
            finish_totals(dgamma, gamma_dst)
        dx = None
        if need_x:
            dx = xp.empty_like(g)
            grid, block = _grid_1d(g.size)
            K.kernel("bn_backward_dx")(g.dtype)(grid, block, (
                g, xhat, invstd, gamma if has_gamma else invstd, invstd if dbeta is None else dbeta,
                invstd if dgamma is None else dgamma, dx, np.int64(g.size), np.int64(cols),
                np.int32(has_gamma), np.int32(training), g.dtype.type(rows)))
        if not need_affine or not has_gamma:
            dgamma = dbeta = None
        return dx, dgamma, dbeta
