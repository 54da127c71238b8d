"""Cache-blocked, multi-threaded elementwise work for the CPU backend.

NumPy ufuncs release the GIL on large arrays, so a pass over a big array split into per-core blocks runs on every
core. Blocks are also small enough (``BLOCK`` elements) to stay in cache, so a sequence of several ufuncs over one
block reads main memory about once instead of once per ufunc: this is what makes an optimizer step or a batch norm
cheaper than the same ufunc sequence over whole arrays.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

BLOCK = 1 << 15            # elements per block (128 KiB of float32): a few arrays' blocks fit in L2
PARALLEL_MIN = 1 << 17     # below this many elements one thread does it all


def _threads() -> int:
    """``GPUNET_NUM_THREADS``, default 1: on the 2-vCPU machine the benchmarks run on, two threads measured no
    faster than one for Adam over 8.4M parameters (25.3 vs 26.3 ms) and slowed the large MLP step (BLAS's own
    threads compete for the same cores). Set it where the cores are real and idle between GEMMs."""
    env = os.environ.get("GPUNET_NUM_THREADS")
    return max(1, int(env)) if env else 1


NUM_THREADS = _threads()
_pool: ThreadPoolExecutor | None = None


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=NUM_THREADS, thread_name_prefix="gpunet-cpu")
    return _pool


def spans(n: int, parts: int | None = None) -> list[tuple[int, int]]:
    """Split ``range(n)`` into contiguous spans, one per thread (a single span below ``PARALLEL_MIN``)."""
    if n <= 0:
        return []
    parts = NUM_THREADS if parts is None else parts
    if n < PARALLEL_MIN or parts == 1:
        parts = 1
    step = -(-n // parts)
    return [(i, min(i + step, n)) for i in range(0, n, step)]


def run_blocked(fn, n: int, block: int = BLOCK) -> list:
    """Call ``fn(start, stop)`` over ``range(n)`` in blocks of at most ``block``; blocks of one thread's span run
    in order on that thread. Returns the results of every call, in order."""
    def span_work(lo, hi):
        return [fn(i, min(i + block, hi)) for i in range(lo, hi, block)]

    ss = spans(n)
    if len(ss) <= 1:
        return span_work(0, n) if n > 0 else []
    futures = [_get_pool().submit(span_work, lo, hi) for lo, hi in ss]
    out = []
    for f in futures:
        out.extend(f.result())
    return out
