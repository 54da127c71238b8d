"""Splitting CPU work over threads.

The compiled CPU kernels (:mod:`gpunet.backend._cpu_kernels`) release the GIL, so a large pass split into one
contiguous span per core runs on every core from a plain thread pool. Small passes run on the calling thread:
handing work to a pool thread costs tens of microseconds.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor


def _threads() -> int:
    """``GPUNET_NUM_THREADS``, default: the CPUs this process may run on."""
    env = os.environ.get("GPUNET_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"GPUNET_NUM_THREADS must be a positive integer, got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


NUM_THREADS = _threads()
# Elements of work below which one thread does it all. Measured on 2 vCPUs: a batch-norm forward + backward
# over (1024, 2048) ran 5.2 ms on one thread and 3.4 ms on two, but a medium MLP step (passes of 131 k to 400 k
# elements) ran 5.12 ms with one and 5.36 ms with two: right after a GEMM the pool thread waits for the core that
# OpenBLAS's worker is still spinning on. (Spans taken in turn, four per thread, instead of one fixed span each:
# batch norm 3.40 against 3.33 ms, no gain.)
PARALLEL_MIN = 1 << 20
_pool: ThreadPoolExecutor | None = None
_local = threading.local()


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(NUM_THREADS - 1, 1), thread_name_prefix="gpunet-cpu")
    return _pool


def parts(n: int, per_item: int = 1) -> int:
    """How many spans to split ``range(n)`` into: one per thread, or 1 when ``n · per_item`` (the elements the
    work touches) is below ``PARALLEL_MIN``."""
    if NUM_THREADS == 1 or n * per_item < PARALLEL_MIN:
        return 1
    return max(1, min(NUM_THREADS, n))


def _span(fn, k, lo, hi):
    """One span on this thread, marked busy so that a :func:`run` inside it runs its spans right here."""
    _local.busy = True
    try:
        fn(k, lo, hi)
    finally:
        _local.busy = False


def run(fn, n: int, nparts: int) -> None:
    """Call ``fn(k, lo, hi)`` for ``nparts`` contiguous spans ``k`` of ``range(n)``: the last on the calling
    thread, the others on the pool; returns when all are done (re-raising the first error). Called from inside
    a span (a product split inside a split recurrent loop), it runs its spans one after another on the calling
    thread: waiting there for pool threads that may all be running the outer spans could deadlock."""
    if nparts == 1:
        fn(0, 0, n)
        return
    step = -(-n // nparts)
    bounds = [(k, k * step, min((k + 1) * step, n)) for k in range(nparts)]
    if getattr(_local, "busy", False):
        for b in bounds:
            fn(*b)
        return
    futures = [_get_pool().submit(_span, fn, *b) for b in bounds[:-1]]
    _span(fn, *bounds[-1])
    for f in futures:
        f.result()
