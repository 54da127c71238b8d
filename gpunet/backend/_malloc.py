"""Keep large NumPy buffers between training steps: glibc's heap settings, and a pool for the largest arrays.

A training step frees and re-allocates the same large arrays (activations, gradients) every time. By default
glibc serves each one with a fresh ``mmap`` and returns it with ``munmap``, so every step page-faults its memory
in again: on the large benchmark MLP that was ~15% of the step. Raising the mmap threshold to its maximum and
keeping freed memory (trim threshold) lets the allocator reuse the pages, as PyTorch's CPU allocator caching
does. Arrays above glibc's ceiling for that (32 MiB) come from :func:`empty`'s pool instead. Opt out of both
with ``GPUNET_MALLOPT=0``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import sys
import threading

import numpy as np

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MMAP_THRESHOLD_MAX = 4 * 1024 * 1024 * ctypes.sizeof(ctypes.c_long)  # glibc's ceiling (32 MiB on 64-bit)
applied = False


def tune() -> bool:
    """Apply the settings once; True if glibc accepted them."""
    global applied
    if applied or os.environ.get("GPUNET_MALLOPT", "1") == "0" or not sys.platform.startswith("linux"):
        return applied
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
    ok &= mallopt(_M_TOP_PAD, 64 << 20) == 1
    applied = bool(ok)
    return applied


# ====================================================================== buffers above the mmap ceiling
# glibc serves every block above its mmap threshold ceiling (32 MiB) with a fresh mmap, whatever mallopt says, so
# the largest arrays of a step (a 10k-vocabulary's (1120, 10000) logits, their probabilities and gradient: 45 MB
# each) were page-faulted in afresh every step: 14.2 ms to fill a fresh (1120, 10000) float32 array against 6.5
# for one already mapped. ``empty`` keeps such buffers and hands one out again once nothing refers to it.
POOL_MIN_BYTES = _MMAP_THRESHOLD_MAX
POOL_MAX_BYTES = 1 << 30  # at each new buffer, the free ones beyond this are dropped (the oldest first)
_pool: list = []  # flat uint8 buffers, oldest first
_pool_lock = threading.Lock()


def _refs(pool, i) -> int:
    return sys.getrefcount(pool[i])


_FREE = _refs([np.empty(1, np.uint8)], 0)  # a buffer's count when only the pool holds it (as measured here)


def empty(shape, dtype):
    """``np.empty(shape, dtype)``; above :data:`POOL_MIN_BYTES`, a kept buffer that nothing else refers to any
    more (every array made from it is gone) or a new one that is kept. Its contents are arbitrary."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = dtype.itemsize * math.prod(shape)
    if nbytes < POOL_MIN_BYTES or not _pool_on:
        return np.empty(shape, dtype)
    with _pool_lock:
        pool = _pool
        for i in range(len(pool)):
            if pool[i].nbytes == nbytes and _refs(pool, i) == _FREE:
                buf = pool.pop(i)
                pool.append(buf)
                return buf.view(dtype).reshape(shape)
        free = [i for i in range(len(pool)) if _refs(pool, i) == _FREE]
        kept = sum(pool[i].nbytes for i in free)
        drop = set()
        for i in free:  # oldest first
            if kept + nbytes <= POOL_MAX_BYTES:
                break
            kept -= pool[i].nbytes
            drop.add(i)
        if drop:
            pool[:] = [b for j, b in enumerate(pool) if j not in drop]
        buf = np.empty(nbytes, np.uint8)
        pool.append(buf)
        return buf.view(dtype).reshape(shape)


def release() -> int:
    """Drop the kept buffers nothing refers to (their memory goes back to the system); the bytes dropped."""
    with _pool_lock:
        free = [i for i in range(len(_pool)) if _refs(_pool, i) == _FREE]
        dropped = sum(_pool[i].nbytes for i in free)
        for i in reversed(free):
            del _pool[i]
    return dropped


_pool_on = os.environ.get("GPUNET_MALLOPT", "1") != "0"
