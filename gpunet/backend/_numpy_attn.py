"""The NumPy backend's attention (scaled, masked softmax of the scores) ops (compiled CPU kernels where they pay): a
mixin of :class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._attn_ops.AttnOps`).

Forward and backward are ONE compiled pass over the scores each (:mod:`._cpu_attn_kernels`), in place, split by
batch over the threads; the mask is read through :func:`._attn_ops.mask_layout` (never broadcast in memory).

The batched GEMMs of attention are many small products (one (L, D)·(D, S) per head): OpenBLAS splits each over its
threads, which costs more than it gains at that size (and far more on a loaded machine: 6 such batched products
of a 16×4-head, 128-token layer took 571 ms that way against 52 ms split as below, on 2 busy vCPUs). So
:meth:`NumpyAttn.bmm` hands each thread of :mod:`._parallel` a slice of the batch and runs OpenBLAS
single-threaded meanwhile (its thread count is set through its C API, found among the loaded libraries, and
restored after); without that API the products run as one ``np.matmul``.
"""
from __future__ import annotations

import ctypes
import re
import threading

import numpy as np

from . import _numba, _parallel
from ._attn_ops import mask_layout

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _dense_float(a) -> bool:
    return type(a) is np.ndarray and a.dtype in _FLOATS and a.flags.c_contiguous and a.flags.writeable \
        and a.ndim >= 2 and a.size > 0


class _BlasThreads:
    """OpenBLAS's get/set_num_threads, if an OpenBLAS is loaded in this process (found once, Linux only)."""

    def __init__(self):
        self.get = self.set = None
        try:
            with open("/proc/self/maps") as f:
                paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", f.read())))
        except OSError:
            return
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for pre, suf in (("scipy_", "64_"), ("scipy_", ""), ("", "64_"), ("", "")):
                get = getattr(lib, f"{pre}openblas_get_num_threads{suf}", None)
                put = getattr(lib, f"{pre}openblas_set_num_threads{suf}", None)
                if get is not None and put is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    put.restype, put.argtypes = None, [ctypes.c_int]
                    self.get, self.set = get, put
                    return


_blas = None
_blas_lock = threading.Lock()


def _blas_threads() -> _BlasThreads:
    global _blas
    if _blas is None:
        with _blas_lock:
            if _blas is None:
                _blas = _BlasThreads()
    return _blas


def _split_axis(a, b, out):
    """The batch axis (0 or 1) to split a product over, or None (broadcast batch dims, or nothing to split)."""
    if a.ndim < 3 or a.shape[:-2] != b.shape[:-2] or (out is not None and out.shape[:-2] != a.shape[:-2]):
        return None
    if a.shape[0] >= 2:
        return 0
    return 1 if a.ndim >= 4 and a.shape[1] >= 2 else None


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

    def bmm(self, a, b, out=None):
        if type(a) is not np.ndarray or type(b) is not np.ndarray or a.dtype != b.dtype \
                or a.dtype not in _FLOATS:
            return super().bmm(a, b, out)
        axis = _split_axis(a, b, out)
        k, n = a.shape[-1], b.shape[-1]
        parts = 1
        if axis is not None and k > 0:
            count = a.shape[axis]
            macs = (a.size // count) * n  # multiply-adds per slice of the split axis
            parts = _parallel.parts(count, macs // 64)
            if count % parts and count < 4 * parts:  # uneven halves: OpenBLAS's own threads balance better
                parts = 1
        blas = _blas_threads() if parts > 1 else None
        if blas is None or blas.set is None:
            if out is None:
                return np.matmul(a, b)
            np.matmul(a, b, out=out)
            return out
        if out is None:
            out = np.empty(a.shape[:-1] + (n,), a.dtype)
        if axis == 0:
            def part(i, lo, hi):
                np.matmul(a[lo:hi], b[lo:hi], out=out[lo:hi])
        else:
            def part(i, lo, hi):
                np.matmul(a[:, lo:hi], b[:, lo:hi], out=out[:, lo:hi])
        with _blas_lock:  # one thread count change at a time (another Python thread may multiply meanwhile)
            before = blas.get()
            blas.set(1)
            try:
                _parallel.run(part, a.shape[axis], parts)
            finally:
                blas.set(before)
        return out
