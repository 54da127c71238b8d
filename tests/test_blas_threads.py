"""OpenBLAS's thread count: the NumPy backend's single-threaded regions (conv chunks, split attention products,
recurrent steps) leave it as they found it, from any number of threads at once."""
from __future__ import annotations

import random
import threading

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import backend as B
from gpunet import nn
from gpunet.backend import _blas_threads, _parallel

pytestmark = pytest.mark.skipif(not _blas_threads.available(), reason="no OpenBLAS thread API in this process")


@pytest.fixture
def two_blas_threads():
    """OpenBLAS on 2 threads for the test (restored after), so a region's 1 is visible."""
    get, put = _blas_threads.api()
    before = get()
    put(2)
    yield
    put(before)


def test_regions_nest_and_restore(two_blas_threads):
    with _blas_threads.single_threaded():
        assert _blas_threads.threads() == 1
        with _blas_threads.single_threaded():
            assert _blas_threads.threads() == 1
        assert _blas_threads.threads() == 1
    assert _blas_threads.threads() == 2
    with _blas_threads.single_threaded(active=False):
        assert _blas_threads.threads() == 2


def test_regions_from_many_threads_restore(two_blas_threads):
    """Regions opened and closed by 8 threads in random interleavings: one thread inside any region, the count
    found restored when the last closes (a per-thread save/restore left the process on 1 thread)."""
    inside = []
    barrier = threading.Barrier(8)

    def work(seed):
        r = random.Random(seed)
        barrier.wait()
        for _ in range(200):
            with _blas_threads.single_threaded():
                inside.append(_blas_threads.threads())
                if r.random() < 0.3:
                    with _blas_threads.single_threaded():
                        inside.append(_blas_threads.threads())

    ts = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert set(inside) == {1}
    assert _blas_threads.threads() == 2


@pytest.fixture
def numpy_two_threads(monkeypatch):
    monkeypatch.setattr(_parallel, "NUM_THREADS", 2)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1)
    return B.get("numpy")


def test_layers_leave_the_blas_thread_count(two_blas_threads, numpy_two_threads, rng):
    """A chunked conv forward + backward split over two threads, an LSTM, and split attention products: the
    process's GEMMs run on the 2 BLAS threads afterwards (the main thread was once left on 1 after conv)."""
    gn.use("numpy")
    x = gn.tensor(rng.standard_normal((8, 16, 14, 14)).astype(np.float32), requires_grad=True)
    conv = nn.Conv2d(16, 32, 5, padding=2)
    for _ in range(3):
        conv(x).sum().backward()
        assert _blas_threads.threads() == 2
    lstm = nn.LSTM(8, 16)
    out, _ = lstm(gn.tensor(rng.standard_normal((5, 3, 8)).astype(np.float32)))
    out.sum().backward()
    assert _blas_threads.threads() == 2
    q = gn.tensor(rng.standard_normal((4, 2, 64, 32)).astype(np.float32), requires_grad=True)
    F.scaled_dot_product_attention(q, q, q).sum().backward()
    assert _blas_threads.threads() == 2



@pytest.fixture
def split_everything(monkeypatch):
    """Every float product big enough to split (two threads), so each split path runs on small shapes."""
    from gpunet.backend import _numpy_gemm

    monkeypatch.setattr(_parallel, "NUM_THREADS", 2)
    monkeypatch.setattr(_numpy_gemm, "BLAS_ALONE_MACS", 0)
    monkeypatch.setattr(_numpy_gemm, "SPLIT_MIN_MACS", 1)
    return _numpy_gemm


CASES = [
    ((70, 9), (9, 40), False, False),     # rows
    ((40, 9), (9, 70), False, False),     # columns (strided slices of b and out)
    ((9, 70), (40, 9), True, True),       # transposed operands
    ((5, 33, 8), (5, 8, 34), False, False),  # stacked, shared batch
    ((2, 3, 33, 8), (2, 3, 8, 7), False, False),
    ((1, 3, 33, 8), (1, 3, 8, 7), False, False),  # split on the second batch axis
    ((6, 20, 8), (8, 30), False, False),  # (B, L, K) · (K, N)
    ((20, 8), (6, 8, 30), False, False),  # (M, K) · (B, K, N)
    ((3, 1, 20, 8), (1, 4, 8, 5), False, False),  # broadcast batch axes: one product
    ((8,), (8, 30), False, False),        # 1-D
    ((3, 20, 8), (8,), False, False),
    ((31, 9), (9, 20), False, False),     # too thin to split
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sa,sb,ta,tb", CASES)
def test_split_matmul_matches_numpy(two_blas_threads, split_everything, rng, sa, sb, ta, tb, dtype):
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    a, b = (a.T if ta else a), (b.T if tb else b)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    got = split_everything.matmul(a, b)
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    if want.ndim >= 2:  # into a strided view, as attention writes heads into a packed buffer
        buf = np.full(want.shape[:-1] + (want.shape[-1] + 3,), np.nan, dtype)
        view = buf[..., :want.shape[-1]]
        assert split_everything.matmul(a, b, view) is view
        np.testing.assert_allclose(view, want, rtol=tol, atol=tol)
        assert np.isnan(buf[..., want.shape[-1]:]).all()
    assert _blas_threads.threads() == 2


def test_matmul_other_dtypes_and_errors(split_everything, rng):
    ai = rng.integers(-5, 5, (40, 9))
    bi = rng.integers(-5, 5, (9, 70))
    np.testing.assert_array_equal(split_everything.matmul(ai, bi), ai @ bi)
    with pytest.raises(ValueError):
        split_everything.matmul(np.ones((3, 4), np.float32), np.ones((5, 2), np.float32))


def test_parallel_run_inside_a_span_runs_inline(monkeypatch):
    """_parallel.run called from inside a span (a split product inside a split recurrent loop) runs its spans on
    that thread instead of waiting for pool threads that are all busy with the outer spans (a deadlock)."""
    monkeypatch.setattr(_parallel, "NUM_THREADS", 2)
    seen = []  # (outer span, thread, inner span, lo, hi)

    def outer(k, lo, hi):
        _parallel.run(lambda j, a, b: seen.append((k, threading.get_ident(), j, a, b)), 10, 2)

    done = threading.Event()

    def go():
        _parallel.run(outer, 2, 2)
        done.set()

    t = threading.Thread(target=go, daemon=True)
    t.start()
    assert done.wait(20), "nested _parallel.run deadlocked"
    assert sorted((o, j, a, b) for o, _, j, a, b in seen) == [(0, 0, 0, 5), (0, 1, 5, 10), (1, 0, 0, 5),
                                                             (1, 1, 5, 10)]
    for o in (0, 1):  # each outer span ran both of its inner spans itself
        assert len({t for oo, t, *_ in seen if oo == o}) == 1
