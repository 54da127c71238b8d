"""The CuPy backend's layer / RMS / group normalisation and embedding ops (CUDA kernels of ``kernels/norm.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`, which supplies ``xp`` and the guards ``_fusable``, ``_dense`` and ``_unused``;
``super()`` is the reference (:class:`~._norm_ops.NormOps`), for what the kernels do not handle.

Launches: forward ONE kernel (a block per row: statistics, then normalise + affine); backward ONE kernel for dx (a
block per row) and ONE for the affine gradients (a column reduction for layer norm, a block per channel for group
norm). Embedding: ONE gather kernel forward, ONE atomicAdd scatter kernel backward.
"""
from __future__ import annotations

import numpy as np

from . import _determinism
from . import _kernels as K
from ._cuda_launch import _MAX_GRID_X, _grid_1d, _grid_columns, column_totals, finish_totals

_ROW_BLOCK = 256  # most threads per row (a power of two: the shared-memory tree halves it)


def _row_block(d: int) -> int:
    """Threads per block of a one-block-per-row launch over rows of ``d`` values: a power of two, 32 to 256."""
    return max(32, min(_ROW_BLOCK, 1 << max(d - 1, 0).bit_length()))


class CupyNorm:
    """layer / RMS / group normalisation and embedding on the GPU."""

    # ----------------------------------------------------------------- layer / RMS norm
    def layer_norm_forward(self, x, weight, bias, eps: float, rms: bool = False):
        if x.ndim != 2 or not self._fusable(x, weight, bias):
            return super().layer_norm_forward(x, weight, bias, eps, rms)
        y, mean, rstd = self._rows_forward(x, weight, bias, eps, rms, 1, 1)
        return y, (None if rms else mean), rstd

    def _rows_forward(self, x, weight, bias, eps, rms, s, groups):
        xp = self.xp
        rows, d = x.shape
        dt = x.dtype
        y = xp.empty_like(x)
        mean = self._unused(dt) if rms else xp.empty(rows, dtype=dt)
        rstd = xp.empty(rows, dtype=dt)
        bs = _row_block(d)
        K.kernel("ln_forward")(dt)((min(rows, _MAX_GRID_X),), (bs,), (
            x, self._or_unused(weight, dt), self._or_unused(bias, dt), y, mean, rstd, np.int64(rows), np.int64(d),
            np.int64(s), np.int64(groups), dt.type(eps), np.int32(weight is not None), np.int32(bias is not None),
            np.int32(rms)), shared_mem=2 * bs * x.itemsize)
        return y, mean, rstd

    def _or_unused(self, a, dtype):
        return self._unused(dtype) if a is None else a

    def _rows_dx(self, g, x, mean, rstd, weight, rms, s, groups, out=None):
        rows, d = x.shape
        dt = x.dtype
        ok = (isinstance(out, self.xp.ndarray) and out.shape == x.shape and out.dtype == dt
              and out.flags.c_contiguous)
        dx = out if ok else self.xp.empty_like(x)
        bs = _row_block(d)
        K.kernel("ln_backward_dx")(dt)((min(rows, _MAX_GRID_X),), (bs,), (
            g, x, self._or_unused(mean, dt), rstd, self._or_unused(weight, dt), dx, np.int64(rows), np.int64(d),
            np.int64(s), np.int64(groups), np.int32(weight is not None), np.int32(rms)),
            shared_mem=2 * bs * x.itemsize)
        return dx

    def layer_norm_backward(self, g, x, mean, rstd, weight, rms: bool, need_x: bool = True,
                            need_w: bool = True, need_b: bool = True, out=None):
        if (x.ndim != 2 or not isinstance(g, self.xp.ndarray) or g.shape != x.shape or g.dtype != x.dtype
                or not self._fusable(x, rstd, mean, weight)):
            return super().layer_norm_backward(g, x, mean, rstd, weight, rms, need_x, need_w, need_b, out)
        xp = self.xp
        g = self._dense(g, x.dtype)
        rows, d = x.shape
        dx = self._rows_dx(g, x, mean, rstd, weight, rms, 1, 1, out) if need_x else None
        dw = db = None
        if need_w or need_b:
            grid, block = _grid_columns(rows, d)
            dw, w_dst, ld = column_totals(xp, grid, d, x.dtype)
            db, b_dst, _ = column_totals(xp, grid, d, x.dtype)
            K.kernel("ln_backward_affine")(x.dtype)(grid, block, (
                g, x, self._or_unused(mean, x.dtype), rstd, w_dst, b_dst, np.int64(rows), np.int64(d),
                np.int64(ld), np.int32(rms)), shared_mem=2 * block[0] * block[1] * x.itemsize)
            finish_totals(dw, w_dst)
            finish_totals(db, b_dst)
        return dx, (dw if need_w else None), (db if need_b else None)

    # ----------------------------------------------------------------- group norm
    def group_norm_forward(self, x, weight, bias, groups: int, eps: float):
        if x.ndim != 3 or not self._fusable(x, weight, bias):
            return super().group_norm_forward(x, weight, bias, groups, eps)
        rows, cg, s = x.shape
        y, mean, rstd = self._rows_forward(x.reshape(rows, cg * s), weight, bias, eps, False, s, groups)
        return y.reshape(x.shape), mean, rstd

    def group_norm_backward(self, g, x, mean, rstd, weight, groups: int, need_x: bool = True,
                            need_w: bool = True, need_b: bool = True, out=None):
        if (x.ndim != 3 or not isinstance(g, self.xp.ndarray) or g.size != x.size or g.dtype != x.dtype
                or not self._fusable(x, rstd, mean, weight)):
            return super().group_norm_backward(g, x, mean, rstd, weight, groups, need_x, need_w, need_b, out)
        xp = self.xp
        rows, cg, s = x.shape
        x2 = x.reshape(rows, cg * s)
        g2 = self._dense(g, x.dtype).reshape(x2.shape)
        out2 = out.reshape(x2.shape) if out is not None and out.size == x.size else None
        dx = self._rows_dx(g2, x2, mean, rstd, weight, False, s, groups, out2) if need_x else None
        if dx is not None:
            dx = out if dx is out2 else dx.reshape(x.shape)
        dw = db = None
        if need_w or need_b:
            n, c = rows // groups, groups * cg
            dw, db = xp.empty(c, dtype=x.dtype), xp.empty(c, dtype=x.dtype)
            bs = _row_block(n * s)
            K.kernel("gn_backward_affine")(x.dtype)((min(c, _MAX_GRID_X),), (bs,), (
                g2, x2, mean, rstd, dw, db, np.int64(n), np.int64(c), np.int64(s), np.int64(groups)),
                shared_mem=2 * bs * x.itemsize)
        return dx, (dw if need_w else None), (db if need_b else None)

    # ----------------------------------------------------------------- embedding
    def embedding_forward(self, weight, idx):
        """ONE gather kernel (an index outside the weight reads the nearest row; the caller's deferred check
        reports it)."""
        xp = self.xp
        if weight.ndim != 2 or not isinstance(idx, xp.ndarray) or not self._fusable(weight) or idx.size == 0:
            return super().embedding_forward(weight, idx)
        v, d = weight.shape
        ix = xp.ascontiguousarray(idx, dtype=xp.int64)
        out = xp.empty(tuple(idx.shape) + (d,), dtype=weight.dtype)
        grid, block = _grid_1d(ix.size * d)
        K.kernel("embedding_forward")(weight.dtype)(grid, block, (
            weight, ix, out, np.int64(ix.size), np.int64(d), np.int64(v)))
        return out

    def embedding_backward(self, g, idx, num_embeddings: int, padding_idx=None):
        """ONE scatter kernel: atomicAdd of each gradient value into its row (repeated indices sum); with
        :func:`gpunet.use_deterministic_algorithms`, a sort of the indices and ONE kernel summing each run of equal
        indices in a fixed order instead."""
        xp = self.xp
        if (g.ndim != 2 or idx.ndim != 1 or not isinstance(idx, xp.ndarray) or not self._fusable(g)
                or idx.shape[0] != g.shape[0]):
            return super().embedding_backward(g, idx, num_embeddings, padding_idx)
        n, d = g.shape
        g = self._dense(g, g.dtype)
        ix = xp.ascontiguousarray(idx, dtype=xp.int64)
        dw = xp.zeros((num_embeddings, d), dtype=g.dtype)
        grid, block = _grid_1d(n * d)
        tail = (np.int64(n), np.int64(d), np.int64(num_embeddings),
                np.int64(-1 if padding_idx is None else padding_idx))
        if _determinism.are_deterministic_algorithms_enabled():  # sorted runs, one fixed-order sum per row
            order = xp.argsort(ix, kind="stable")  # CuPy's argsort is a stable radix sort
            sorted_ix = xp.ascontiguousarray(ix[order])
            K.kernel("embedding_backward_sorted")(g.dtype)(grid, block, (
                g, sorted_ix, xp.ascontiguousarray(order, dtype=xp.int64), dw) + tail)
        else:
            K.kernel("embedding_backward")(g.dtype)(grid, block, (g, ix, dw) + tail)
        return dw
