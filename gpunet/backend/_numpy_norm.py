"""The NumPy backend's layer / RMS / group normalisation and embedding ops (compiled CPU kernels where they pay): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._norm_ops.NormOps`).

The kernels (:mod:`._cpu_norm_kernels`) take float32/float64 C-contiguous arrays of one dtype; anything else, and
every op when Numba is off (``GPUNET_NUMBA=0``), goes to the reference. Rows are split over threads in contiguous
spans; the affine gradients are float64 partial rows, one per span, summed here.
"""
from __future__ import annotations

import numpy as np

from . import _malloc, _numba, _parallel
from ._numpy_fused import _partials, _total, usable


_K = None


def _kernels():
    """:mod:`._cpu_norm_kernels`, or None when the compiled kernels cannot run (imported on first use)."""
    global _K
    if _K is None and _numba.kernels() is not None:
        from . import _cpu_norm_kernels

        _K = _cpu_norm_kernels
    return _K


def _dense(a, dtype):
    return None if a is None else np.ascontiguousarray(a, dtype=dtype)


def _out(out, x):
    """``out`` when it is a C-contiguous array shaped like ``x`` of its dtype, else a fresh one."""
    if (type(out) is np.ndarray and out.shape == x.shape and out.dtype == x.dtype and out.flags.c_contiguous
            and out.flags.writeable):
        return out
    return np.empty_like(x)


def _stub(dtype):
    """A one-element array for a kernel argument that is not read (Numba needs an array of the right type)."""
    return np.zeros(1, dtype)


class NumpyNorm:
    """layer / RMS / group normalisation and embedding on the CPU."""

    # ----------------------------------------------------------------- layer / RMS norm
    def layer_norm_forward(self, x, weight, bias, eps: float, rms: bool = False):
        """ONE compiled pass per row span: shifted row sums, then normalise + affine while the row is in L1."""
        if x.ndim != 2 or x.size == 0 or not usable(x, weight, bias):
            return super().layer_norm_forward(x, weight, bias, eps, rms)
        K = _kernels()
        rows, d = x.shape
        y = np.empty_like(x)
        mean = _stub(x.dtype) if rms else np.empty(rows, x.dtype)
        rstd = np.empty(rows, x.dtype)
        w = weight if weight is not None else _stub(x.dtype)
        b = bias if bias is not None else _stub(x.dtype)
        hw, hb, e = weight is not None, bias is not None, float(eps)
        _parallel.run(lambda k, r0, r1: K.ln_forward(x, w, b, hw, hb, e, rms, y, mean, rstd, r0, r1),
                      rows, _parallel.parts(rows, d))
        return y, (None if rms else mean), rstd

    def layer_norm_backward(self, g, x, mean, rstd, weight, rms: bool, need_x: bool = True,
                            need_w: bool = True, need_b: bool = True, out=None):
        """ONE compiled pass per row span: the row sums and the affine terms in one loop, then dx."""
        if (x.ndim != 2 or x.size == 0 or g.shape != x.shape or not isinstance(g, np.ndarray)
                or not usable(x, weight, rstd, mean)):
            return super().layer_norm_backward(g, x, mean, rstd, weight, rms, need_x, need_w, need_b, out)
        K = _kernels()
        g = _dense(g, x.dtype)
        rows, d = x.shape
        need_affine = bool(need_w or need_b)
        t = _parallel.parts(rows, d)
        dws = _partials(t, d if need_affine else 1, np.float64)
        dbs = _partials(t, d if need_affine else 1, np.float64)
        dx = _out(out, x) if need_x else x
        w = weight if weight is not None else _stub(x.dtype)
        m = mean if mean is not None else _stub(x.dtype)
        hw = weight is not None
        _parallel.run(lambda k, r0, r1: K.ln_backward(g, x, m, rstd, w, hw, rms, bool(need_x), need_affine, dx,
                                                      dws[k], dbs[k], r0, r1), rows, t)
        dw = _total(dws).astype(x.dtype) if need_w else None
        db = _total(dbs).astype(x.dtype) if need_b else None
        return (dx if need_x else None), dw, db

    # ----------------------------------------------------------------- group norm
    def group_norm_forward(self, x, weight, bias, groups: int, eps: float):
        """ONE compiled pass per span of (sample, group) rows."""
        if x.ndim != 3 or x.size == 0 or not usable(x, weight, bias):
            return super().group_norm_forward(x, weight, bias, groups, eps)
        K = _kernels()
        rows, cg, s = x.shape
        c = groups * cg
        affine = weight is not None or bias is not None
        w = weight if weight is not None else np.ones(c if affine else 1, x.dtype)
        b = bias if bias is not None else np.zeros(c if affine else 1, x.dtype)
        y = np.empty_like(x)
        mean, rstd = np.empty(rows, x.dtype), np.empty(rows, x.dtype)
        e = float(eps)
        _parallel.run(lambda k, r0, r1: K.gn_forward(x, w, b, groups, affine, e, y, mean, rstd, r0, r1),
                      rows, _parallel.parts(rows, cg * s))
        return y, mean, rstd

    def group_norm_backward(self, g, x, mean, rstd, weight, groups: int, need_x: bool = True,
                            need_w: bool = True, need_b: bool = True, out=None):
        """ONE compiled pass per span of rows: per-channel Σg and Σg·x̂ (the affine gradients and the row sums of
        dx at once), then dx."""
        if (x.ndim != 3 or x.size == 0 or g.size != x.size or not isinstance(g, np.ndarray)
                or not usable(x, weight, rstd, mean)):
            return super().group_norm_backward(g, x, mean, rstd, weight, groups, need_x, need_w, need_b, out)
        K = _kernels()
        rows, cg, s = x.shape
        c = groups * cg
        g = _dense(g, x.dtype).reshape(x.shape)
        need_affine = bool(need_w or need_b)
        t = _parallel.parts(rows, cg * s)
        dws, dbs = _partials(t, c, np.float64), _partials(t, c, np.float64)
        dx = _out(out, x) if need_x else x
        affine = weight is not None
        w = weight if affine else _stub(x.dtype)
        _parallel.run(lambda k, r0, r1: K.gn_backward(g, x, mean, rstd, w, groups, affine, bool(need_x),
                                                      need_affine, dx, dws[k], dbs[k], r0, r1), rows, t)
        dw = _total(dws).astype(x.dtype) if need_w else None
        db = _total(dbs).astype(x.dtype) if need_b else None
        return (dx if need_x else None), dw, db

    # ----------------------------------------------------------------- embedding
    def embedding_backward(self, g, idx, num_embeddings: int, padding_idx=None):
        """A compiled scatter-add of the rows of ``g``: each thread owns a range of rows of the gradient and
        scans the indices for its own (no two threads write a row, no sort)."""
        if g.ndim != 2 or idx.ndim != 1 or not usable(g) or idx.dtype.kind not in "iu" or g.size == 0:
            return super().embedding_backward(g, idx, num_embeddings, padding_idx)
        K = _kernels()
        g = _dense(g, g.dtype)
        ix = np.ascontiguousarray(idx, dtype=np.int64)
        dw = _malloc.empty((num_embeddings, g.shape[1]), g.dtype)  # each span zeroes its own rows
        pad = -1 if padding_idx is None else int(padding_idx)
        per_row = -(-(g.size + dw.size) // num_embeddings)  # the work: the gradient read, dw's pages written

        def span(k, lo, hi):
            dw[lo:hi] = 0
            K.embedding_grad(g, ix, pad, dw, lo, hi)
        _parallel.run(span, num_embeddings, _parallel.parts(num_embeddings, per_row))
        return dw
