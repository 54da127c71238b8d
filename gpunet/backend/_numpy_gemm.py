"""The NumPy backend's matrix products: every GEMM of the backend runs with OpenBLAS on one thread, split over the
backend's own threads (:mod:`._parallel`) when it is big enough.

Why not OpenBLAS's threads: after each multithreaded call OpenBLAS's workers spin for ~0.1 s waiting for more,
and on a machine with as many cores as threads they take the cores the backend's compiled kernels and chunked
convolutions run on. Measured on 2 vCPUs: a split product right after a small 2-thread OpenBLAS GEMM took 14.1 ms
against 7.6 ms with no OpenBLAS thread awake (still 15.3 ms 20 ms later), and the LeNet training step ran 45 ms
with OpenBLAS threaded against 32 ms with it on one thread. OpenBLAS's own split also collapses on some
transposed shapes (the (2048, 1024)ᵀ · (1024, 1024) product 49 ms on its 2 threads against 31 ms split here).

A 2-D product ``(M, K) · (K, N)`` of at least :data:`SPLIT_MIN_MACS` multiply-adds is split along the longer of M
(rows of ``a`` and of the output) and N (columns of ``b`` and of the output: strided slices, still BLAS
operands); a stacked product along its first batch axis that both operands share (or the one operand that has
batch axes: ``(B, L, K) · (K, N)``); anything else (1-D operands, broadcast batch axes) runs as one
``np.matmul``, single-threaded.
"""
from __future__ import annotations

import numpy as np

from . import _malloc, _parallel
from ._blas_threads import REGION

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Multiply-adds up to which a product is left to OpenBLAS as it is: up to 65536 x its GEMM_MULTITHREAD_THRESHOLD
# of 4 OpenBLAS stays on the calling thread by itself; above, it wakes its workers (a (64, 64) · (64, 128)
# product, 524 k, did). Leaving products up to 2 M to OpenBLAS made the medium benchmark MLP's step 12.1 ms
# against 8.0 here (its three 1.3 M products woke the workers, which then spun through the split products);
# a region costs ~4 µs and a small product on one thread ~3 µs more than on two.
BLAS_ALONE_MACS = 1 << 18
# Multiply-adds from which a product is split over the threads: handing a part to the pool costs tens of µs.
# Measured on 2 vCPUs (one OpenBLAS thread each): (64, 1568) · (1568, 128) (12.8 M) 0.43 ms whole against
# 0.37-0.55 split; (256, 784) · (784, 512) (103 M) 3.2 against 2.0 ms.
SPLIT_MIN_MACS = 1 << 24
# Rows (columns) per part at least: thinner GEMMs run below OpenBLAS's full speed.
_MIN_PART = 16


def _batch_split(a, b, out):
    """``(axis, a_split, b_split)`` for a stacked product: split ``range(shape[axis])`` of the output, slicing
    ``a`` (``b``) along that axis when ``a_split`` (``b_split``); None when there is no such axis."""
    if out.ndim < 3:
        return None
    if a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2]:
        if a.shape[0] >= 2:
            return 0, True, True
        if a.ndim >= 4 and a.shape[1] >= 2:
            return 1, True, True
        return None
    if b.ndim == 2 and a.shape[0] >= 2:
        return 0, True, False
    if a.ndim == 2 and b.shape[0] >= 2:
        return 0, False, True
    return None


def _whole(a, b, out):
    """One ``np.matmul`` (into ``out`` when given), on the calling thread."""
    return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)


def matmul(a, b, out=None):
    """``a @ b`` (into ``out`` when given, a view of any layout), OpenBLAS single-threaded, split over the
    backend's threads when big (see the module docstring)."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2:
        M, K = a.shape
        N = b.shape[1]
        macs = M * K * N
        if macs <= BLAS_ALONE_MACS:
            return _whole(a, b, out)
        if out is None and M * N * a.itemsize >= _malloc.POOL_MIN_BYTES and b.dtype == a.dtype:
            out = _malloc.empty((M, N), a.dtype)
        if macs < SPLIT_MIN_MACS or _parallel.NUM_THREADS == 1 or a.dtype not in _FLOATS or b.dtype != a.dtype:
            with REGION:
                return _whole(a, b, out)
        if out is None:
            out = np.empty((M, N), dtype=a.dtype)
        if M >= N and M >= 2 * _MIN_PART:
            n = M

            def part(k, lo, hi):
                np.matmul(a[lo:hi], b, out=out[lo:hi])
        elif N >= 2 * _MIN_PART:
            n = N

            def part(k, lo, hi):
                np.matmul(a, b[:, lo:hi], out=out[:, lo:hi])
        else:
            with REGION:
                return _whole(a, b, out)
        with REGION:
            _parallel.run(part, n, max(1, min(_parallel.NUM_THREADS, n // _MIN_PART)))
        return out
    return _stacked(a, b, out)


def _stacked(a, b, out):
    """:func:`matmul` of anything but two matrices: stacked products split along a batch axis when big."""
    part = None
    if type(a) is np.ndarray and type(b) is np.ndarray and a.dtype == b.dtype and a.dtype in _FLOATS \
            and a.ndim >= 2 and b.ndim >= 2 and _parallel.NUM_THREADS > 1:
        M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
        batch = max(a.size // max(M * K, 1), b.size // max(K * N, 1))
        if batch * M * K * N >= SPLIT_MIN_MACS and K > 0:
            if out is None:
                out = _malloc.empty(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (M, N), a.dtype)
            split = _batch_split(a, b, out)
            if split is not None:
                axis, sa, sb = split
                n = out.shape[axis]
                nparts = min(_parallel.NUM_THREADS, n)
                if n % nparts == 0 or n >= 4 * nparts:  # uneven halves of a few: one whole product
                    ix = (slice(None),) * axis

                    def part(k, lo, hi):
                        s = ix + (slice(lo, hi),)
                        np.matmul(a[s] if sa else a, b[s] if sb else b, out=out[s])
    with REGION:
        if part is None:
            return _whole(a, b, out)
        _parallel.run(part, n, nparts)
    return out


class NumpyGemm:
    """matrix products on the CPU."""

    def matmul(self, a, b, out=None):
        return matmul(a, b, out)

    def bmm(self, a, b, out=None):
        return matmul(a, b, out)
