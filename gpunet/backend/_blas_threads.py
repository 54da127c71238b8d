"""The one place that changes how many threads OpenBLAS (NumPy's BLAS) uses: :func:`single_threaded`.

Work the NumPy backend splits over its own threads (:mod:`._parallel`: the chunked convolutions, the batched
attention products) and the small recurrent-step GEMMs run best with OpenBLAS on one thread: its second thread
waits for a busy core at every call, and two Python threads calling a multithreaded OpenBLAS at once serialise.

OpenBLAS's thread count is process-wide. Its ``openblas_set_num_threads_local`` is no exception in the pthreads
builds NumPy ships (0.3.31 here): a worker thread's setting changed the main thread's GEMMs too (a (1024, 1024)
float32 product went from 13 to 25 ms), and the save/restore pairs of two threads interleaved so that the main
thread was left on one BLAS thread after a convolution's backward: every later GEMM of the process at half speed
(the LSTM benchmark step 236-287 ms alone, 319-400 ms after the CNN one). So regions are counted instead: the
first thread in sets one thread, the last one out restores the count it found; threads that run inside a region
(the pool's spans) need nothing of their own. Without an OpenBLAS (another BLAS, or not Linux) this does nothing.
"""
from __future__ import annotations

import contextlib
import ctypes
import re
import threading

_lock = threading.Lock()
_depth = 0  # regions open now, over all threads
_saved = 0  # the thread count the first region found
_api = None  # (get, set) of OpenBLAS's process-wide thread count, () where there is none; None: not looked up yet


def api():
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS loaded in this process, or ``()`` (looked up once)."""
    global _api
    if _api is None:
        with _lock:
            if _api is None:
                _api = _find()
    return _api


def _find():
    try:
        with open("/proc/self/maps") as f:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", f.read())))
    except OSError:
        return ()
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
                return get, put
    return ()


def available() -> bool:
    """Whether :func:`single_threaded` can change anything here."""
    return bool(api())


def threads() -> int:
    """OpenBLAS's thread count now (0 without an OpenBLAS)."""
    a = api()
    return a[0]() if a else 0


class _Region:
    """The context manager of :func:`single_threaded` (a class: a generator-based one cost ~3 µs a call, on
    every GEMM of a small layer)."""
    __slots__ = ()

    def __enter__(self):
        global _depth, _saved
        a = _api or api()
        if a:
            with _lock:
                if _depth == 0:
                    _saved = a[0]()
                    a[1](1)
                _depth += 1
        return self

    def __exit__(self, *exc):
        global _depth
        a = _api
        if a:
            with _lock:
                _depth -= 1
                if _depth == 0:
                    a[1](_saved)
        return False


REGION = _Region()
_NOTHING = contextlib.nullcontext()  # reusable: it holds no state


def single_threaded(active: bool = True):
    """OpenBLAS on one thread, process-wide, until the last open region (of any thread) closes; ``active``
    False: a no-op (for callers that decide per call). Use as ``with single_threaded(): ...``."""
    return REGION if active else _NOTHING
