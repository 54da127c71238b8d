"""The CuPy backend's pooling ops (CUDA kernels of ``kernels/pool.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`, which supplies ``xp`` and the guard ``_fusable``; ``super()`` is the reference
(:class:`~._pool_ops.PoolOps`), for what the kernels do not handle. Every launch is 1-D grid-stride over the
outputs (forward) or the input elements (backward, a gather: deterministic, no atomics)."""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._cuda_launch import _grid_1d


def _geom_args(B, H, W, geom, dilation=True):
    kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geom
    head = (np.int64(B), np.int64(H), np.int64(W), np.int64(oh), np.int64(ow))
    tail = tuple(np.int32(v) for v in ((kh, kw, sh, sw, ph, pw, dh, dw) if dilation else (kh, kw, sh, sw, ph, pw)))
    return head + tail


class CupyPool:
    """Pooling on the GPU."""

    def max_pool2d_forward(self, x, geom):
        if not self._fusable(x):
            return super().max_pool2d_forward(x, geom)
        B, H, W = x.shape
        oh, ow = geom[8:]
        y = self.xp.empty((B, oh, ow), dtype=x.dtype)
        idx = self.xp.empty((B, oh, ow), dtype=np.int64)
        grid, block = _grid_1d(y.size)
        K.kernel("max_pool_forward")(x.dtype)(grid, block, (x, y, idx) + _geom_args(B, H, W, geom))
        return y, idx

    def max_pool2d_backward(self, g, idx, in_hw, geom=None):
        if not self._fusable(g) or idx.dtype != np.int64:
            return super().max_pool2d_backward(g, idx, in_hw, geom)
        xp = self.xp
        B = g.shape[0]
        H, W = in_hw
        idx = xp.ascontiguousarray(idx)
        if geom is None:  # adaptive windows: scatter the gradient at the indices
            gx = xp.zeros((B, H, W), dtype=g.dtype)
            grid, block = _grid_1d(g.size)
            K.kernel("index_scatter_add")(g.dtype)(grid, block, (
                g, idx, gx, np.int64(B), np.int64(H * W), np.int64(g.size // max(B, 1))))
            return gx
        gx = xp.empty((B, H, W), dtype=g.dtype)
        grid, block = _grid_1d(gx.size)
        K.kernel("max_pool_backward")(g.dtype)(grid, block, (g, idx, gx) + _geom_args(B, H, W, geom))
        return gx

    def avg_pool2d_forward(self, x, geom, count_include_pad=True, divisor_override=None):
        if not self._fusable(x) or geom[6:8] != (1, 1):
            return super().avg_pool2d_forward(x, geom, count_include_pad, divisor_override)
        B, H, W = x.shape
        y = self.xp.empty((B,) + tuple(geom[8:]), dtype=x.dtype)
        grid, block = _grid_1d(y.size)
        K.kernel("avg_pool_forward")(x.dtype)(grid, block, (x, y) + _geom_args(B, H, W, geom, False) + (
            np.int32(count_include_pad), np.int64(divisor_override or 0)))
        return y

    def avg_pool2d_backward(self, g, in_hw, geom, count_include_pad=True, divisor_override=None):
        if not self._fusable(g) or geom[6:8] != (1, 1):
            return super().avg_pool2d_backward(g, in_hw, geom, count_include_pad, divisor_override)
        B = g.shape[0]
        H, W = in_hw
        gx = self.xp.empty((B, H, W), dtype=g.dtype)
        grid, block = _grid_1d(gx.size)
        K.kernel("avg_pool_backward")(g.dtype)(grid, block, (g, gx) + _geom_args(B, H, W, geom, False) + (
            np.int32(count_include_pad), np.int64(divisor_override or 0)))
        return gx
