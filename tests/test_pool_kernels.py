"""The pooling kernels against the xp reference (:class:`gpunet.backend._pool_ops.PoolOps`): the compiled CPU
kernels (Numba) on the NumPy backend, and the CUDA kernels of kernels/pool.cu on the GPU (or the CUDA emulator, in
its three thread orders, outputs poisoned with NaN / 0xFF so an unwritten element shows)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import backend as B
from gpunet.backend import _numpy_pool
from gpunet.backend._pool_ops import PoolOps
from gpunet.functional.pooling import pool_geometry

try:
    from cuda_emulator import emulator as _emulator
    from cuda_emulator.activate import emulating
    ORDERS = list(_emulator.ORDERS) if emulating() else [None]
except ImportError:
    ORDERS = [None]

DTYPES = [np.float32, np.float64]
# (B, H, W, kernel, stride, padding, dilation, ceil_mode)
GEOMS = [
    (3, 6, 8, (2, 2), (2, 2), (0, 0), (1, 1), False),   # the 2x2 fast path
    (2, 7, 5, (2, 2), (2, 2), (0, 0), (1, 1), True),    # 2x2 with a ceil-mode partial window
    (2, 7, 8, (3, 3), (2, 2), (1, 1), (1, 1), True),
    (1, 9, 7, (3, 2), (1, 3), (1, 1), (2, 1), False),
    (2, 1, 11, (1, 4), (1, 3), (0, 2), (1, 1), True),   # a 1-D pool
    (1, 5, 5, (5, 5), (1, 1), (2, 2), (1, 1), False),
]


def _geom(H, W, k, s, p, d, ceil):
    return pool_geometry("test", (H, W), k, s, p, d, ceil)


def host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def check_all(be, rng, dtype, case, poison=lambda a: a):
    Bn, H, W, k, s, p, d, ceil = case
    geom = _geom(H, W, k, s, p, d, ceil)
    x = be.asarray(rng.standard_normal((Bn, H, W)).astype(dtype))
    y, idx = be.max_pool2d_forward(x, geom)
    ry, ridx = PoolOps.max_pool2d_forward(be, x, geom)
    np.testing.assert_array_equal(host(y), host(ry))
    np.testing.assert_array_equal(host(idx), host(ridx))
    assert host(idx).dtype == np.int64
    g = be.asarray(rng.standard_normal(y.shape).astype(dtype))
    for gm in (geom, None):
        np.testing.assert_allclose(host(be.max_pool2d_backward(g, idx, (H, W), gm)),
                                   host(PoolOps.max_pool2d_backward(be, g, ridx, (H, W), gm)), **tol(dtype))
    if d != (1, 1):
        return
    for cip, div in [(True, None), (False, None), (True, 3)]:
        ya = be.avg_pool2d_forward(x, geom, cip, div)
        np.testing.assert_allclose(host(ya), host(PoolOps.avg_pool2d_forward(be, x, geom, cip, div)), **tol(dtype))
        np.testing.assert_allclose(host(be.avg_pool2d_backward(g, (H, W), geom, cip, div)),
                                   host(PoolOps.avg_pool2d_backward(be, g, (H, W), geom, cip, div)), **tol(dtype))


@pytest.mark.skipif(_numpy_pool.kernels() is None, reason="the compiled CPU kernels are off (no Numba)")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GEOMS)
def test_cpu_kernels_match_reference(dtype, case):
    check_all(B.get("numpy"), np.random.default_rng(5), dtype, case)


@pytest.mark.skipif(_numpy_pool.kernels() is None, reason="the compiled CPU kernels are off (no Numba)")
def test_cpu_kernels_nan_and_threads(monkeypatch):
    be = B.get("numpy")
    x = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6)
    x[1, 2, 3] = np.nan
    geom = _geom(6, 6, (2, 2), (2, 2), (0, 0), (1, 1), False)
    y, idx = be.max_pool2d_forward(x, geom)
    assert np.isnan(y[1, 1, 1]) and idx[1, 1, 1] == 2 * 6 + 3 and np.isfinite(np.delete(y[1].ravel(), 4)).all()
    from gpunet.backend import _parallel
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1)   # split the planes over threads
    monkeypatch.setattr(_parallel, "NUM_THREADS", 2)
    x = np.random.default_rng(1).standard_normal((5, 9, 9)).astype(np.float32)
    geom = _geom(9, 9, (3, 3), (2, 2), (1, 1), (1, 1), True)
    y, idx = be.max_pool2d_forward(x, geom)
    ry, ridx = PoolOps.max_pool2d_forward(be, x, geom)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)


# ------------------------------------------------------------------------------------------------ GPU
class _PoisonXP:
    def __init__(self, xp):
        self._xp = xp

    def __getattr__(self, name):
        return getattr(self._xp, name)

    @staticmethod
    def _poison(a):
        if a.dtype.kind == "f":
            a.fill(np.nan)
        else:
            a.view(np.uint8).fill(0xFF)
        return a

    def empty(self, *args, **kwargs):
        return self._poison(self._xp.empty(*args, **kwargs))

    def empty_like(self, *args, **kwargs):
        return self._poison(self._xp.empty_like(*args, **kwargs))


@pytest.fixture(params=ORDERS, ids=lambda o: o or "device")
def thread_order(request):
    if request.param is None:
        yield None
        return
    _emulator.set_order(request.param)
    yield request.param
    _emulator.set_order(None)


@pytest.fixture
def gpu(monkeypatch, thread_order):
    be = B.get("cupy")
    monkeypatch.setattr(be, "xp", _PoisonXP(be.xp))
    return be


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GEOMS[:4])
def test_cuda_kernels_match_reference(gpu, dtype, case):
    check_all(gpu, np.random.default_rng(5), dtype, case)


@pytest.mark.gpu
def test_cuda_max_pool_nan(gpu):
    x = np.arange(36, dtype=np.float32).reshape(1, 6, 6)
    x[0, 2, 3] = np.nan
    y, idx = gpu.max_pool2d_forward(gpu.xp.array(x), _geom(6, 6, (2, 2), (2, 2), (0, 0), (1, 1), False))
    assert np.isnan(host(y)[0, 1, 1]) and host(idx)[0, 1, 1] == 15


@pytest.mark.torch
def test_cpu_and_cuda_nan_indices_like_torch(backend):
    """Windows with several NaNs: PyTorch keeps the last NaN it meets (value and index)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for k, s, p, d in [(2, 2, 0, 1), (3, 2, 1, 1), (3, 1, 1, 2)]:
        x = rng.standard_normal((2, 3, 8, 9))
        x[rng.random(x.shape) < 0.2] = np.nan
        y, idx = F.max_pool2d(gn.tensor(x), k, s, p, d, return_indices=True)
        ty, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, d, return_indices=True)
        np.testing.assert_array_equal(host(y.data), ty.numpy())
        if backend.name == "numpy" and _numpy_pool.kernels() is None:
            continue  # the reference's argmax keeps the first NaN instead
        np.testing.assert_array_equal(host(idx.data), tidx.numpy())
