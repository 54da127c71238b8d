"""Keep large NumPy buffers in the heap between training steps (glibc only).

A training step frees and re-allocates the same large arrays (activations, gradients) every time. By default
glibc serves each one with a fresh ``mmap`` and returns it with ``munmap``, so every step page-faults its memory
in again: on the large benchmark MLP that was ~15% of the step. Raising the mmap threshold to its maximum and
keeping freed memory (trim threshold) lets the allocator reuse the pages, as PyTorch's CPU allocator caching
does. Opt out with ``GPUNET_MALLOPT=0``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

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
