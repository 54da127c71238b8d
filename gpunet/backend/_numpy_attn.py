"""The NumPy backend's attention (scaled, masked softmax of the scores) ops (compiled CPU kernels where they pay): a
mixin of :class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._attn_ops.AttnOps`).

Forward and backward are ONE compiled pass over the scores each (:mod:`._cpu_attn_kernels`), in place, split by
batch over the threads; the mask is read through :func:`._attn_ops.mask_layout` (never broadcast in memory).

The batched GEMMs of attention are many small products (one (L, D)·(D, S) per head): OpenBLAS splits each over its
threads, which costs more than it gains at that size (and far more on a loaded machine: 6 such batched products
of a 16×4-head, 128-token layer took 571 ms that way against 52 ms split by batch, on 2 busy vCPUs). ``bmm`` is
the backend's :func:`._numpy_gemm.matmul`, which gives each thread of :mod:`._parallel` a slice of the batch.
"""
from __future__ import annotations

import numpy as np

from . import _numba, _parallel
from ._attn_ops import mask_layout

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _dense_float(a) -> bool:
    return type(a) is np.ndarray and a.dtype in _FLOATS and a.flags.c_contiguous and a.flags.writeable \
        and a.ndim >= 2 and a.size > 0


def _kernels():
    K = _numba.kernels()
    if K is None:
        return None
    from . import _cpu_attn_kernels

    return _cpu_attn_kernels


class NumpyAttn:
    """attention (scaled, masked softmax of the scores) on the CPU."""

    def attn_softmax_forward(self, s, scale, mask=None, causal=False, safe=True):
        K = _kernels()
        if K is None or not _dense_float(s) or (mask is not None and type(mask) is not np.ndarray) \
                or (mask is not None and mask.dtype != np.bool_ and mask.dtype != s.dtype):
            return super().attn_softmax_forward(s, scale, mask, causal, safe)
        L, S = s.shape[-2:]
        s3 = s.reshape(-1, L, S)
        if mask is None:
            kind, flat, moff, msi, msj = K.MASK_NONE, s3.reshape(-1)[:1], np.zeros(1, np.int64), 0, 0
        else:
            kind = K.MASK_BOOL if mask.dtype == np.bool_ else K.MASK_ADD
            cache = self.__dict__.setdefault("_attn_offsets", {})
            flat, moff, msi, msj = mask_layout(np, mask, s.shape[:-2], cache)
        sc = s.dtype.type(scale)
        fast = s.dtype == np.float32
        B = s3.shape[0]
        _parallel.run(lambda k, b0, b1: K.attn_softmax(s3, sc, flat, moff, msi, msj, kind, bool(causal),
                                                       bool(safe), fast, b0, b1),
                      B, _parallel.parts(B, L * S))
        return s

    def attn_softmax_backward(self, p, dp, mult=1.0):
        K = _kernels()
        if K is None or not _dense_float(p) or not _dense_float(dp) or dp.dtype != p.dtype \
                or dp.shape != p.shape:
            return super().attn_softmax_backward(p, dp, mult)
        L, S = p.shape[-2:]
        p3, d3 = p.reshape(-1, L, S), dp.reshape(-1, L, S)
        m = p.dtype.type(mult)
        B = p3.shape[0]
        _parallel.run(lambda k, b0, b1: K.attn_softmax_grad(p3, d3, m, b0, b1), B, _parallel.parts(B, L * S))
        return dp
