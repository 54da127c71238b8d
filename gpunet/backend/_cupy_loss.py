"""The CuPy backend's loss ops (CUDA kernels of ``kernels/loss.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`, which supplies ``xp`` and the guards ``_fusable`` and ``_unused``;
``super()`` is the reference (:class:`~._loss_ops.LossOps`), for what the kernels do not handle (broadcast
shapes, empty arrays).

Mean squared error: forward ONE reduction launch (``mse_sum``; plus the fixed-order second pass in deterministic
mode), backward ONE elementwise launch writing both gradients (``mse_backward``). The upstream gradient stays on
the device (read by the kernel), so nothing waits for the GPU.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._cuda_launch import _grid_1d, _grid_columns, column_totals, finish_totals


class CupyLoss:
    """Loss ops on the GPU."""

    # ----------------------------------------------------------------- mean squared error
    def mse_forward(self, x, y, reduction: str):
        if reduction == "none" or x.shape != y.shape or not self._fusable(x, y):
            return super().mse_forward(x, y, reduction)
        n = x.size
        grid, block = _grid_columns(n, 1)
        out, dst, ld = column_totals(self.xp, grid, 1, x.dtype)
        scale = x.dtype.type(1 / n if reduction == "mean" else 1)
        K.kernel("mse_sum")(x.dtype)(grid, block, (x, y, dst, np.int64(n), scale, np.int64(ld)),
                                     shared_mem=block[0] * block[1] * x.itemsize)
        finish_totals(out, dst)
        return out.reshape(())

    def mse_backward(self, x, y, g, reduction: str, n: int, need_x: bool, need_y: bool):
        each = reduction == "none"
        if x.shape != y.shape or not self._fusable(x, y, g) or (each and g.shape != x.shape):
            return super().mse_backward(x, y, g, reduction, n, need_x, need_y)
        xp = self.xp
        dx = xp.empty_like(x) if need_x else None
        dy = xp.empty_like(x) if need_y else None
        scale = x.dtype.type(2 if reduction != "mean" else 2 / n)
        grid, block = _grid_1d(x.size)
        K.kernel("mse_backward")(x.dtype)(grid, block, (
            x, y, g, self._unused(x.dtype) if dx is None else dx, self._unused(x.dtype) if dy is None else dy,
            np.int64(x.size), scale, np.int32(each), np.int32(need_x), np.int32(need_y)))
        return dx, dy
