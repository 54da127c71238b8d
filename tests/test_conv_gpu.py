"""The CuPy backend's im2col / col2im CUDA kernels (kernels/conv.cu) against the xp reference of the Backend base
class, with poisoned allocations (NaN: an entry a kernel forgets to write shows), on the GPU or, without one, on
the CUDA emulator in each of its thread orders. Shapes are small (the emulator runs every thread as a fiber)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import backend as B
from gpunet.backend._conv_ops import ConvOps

pytestmark = pytest.mark.gpu

try:
    from cuda_emulator import emulator as _emulator
    from cuda_emulator.activate import emulating
    ORDERS = list(_emulator.ORDERS) if emulating() else [None]
except ImportError:
    ORDERS = [None]

# (x shape, geometry (kh, kw, sh, sw, pt, pb, pl, pr, dh, dw))
GEOMETRIES = [
    ((2, 3, 5, 4), (3, 3, 1, 1, 1, 1, 1, 1, 1, 1)),
    ((1, 2, 7, 6), (2, 3, 2, 1, 0, 1, 2, 0, 1, 2)),
    ((2, 1, 6, 7), (3, 2, 3, 2, 2, 2, 1, 1, 2, 1)),
    ((1, 2, 1, 9), (1, 4, 1, 3, 0, 0, 1, 2, 1, 1)),
]


@pytest.fixture(autouse=True, params=ORDERS, ids=lambda o: o or "device")
def thread_order(request):
    if request.param is None:
        yield None
        return
    _emulator.set_order(request.param)
    yield request.param
    _emulator.set_order(None)


class _PoisonXP:
    def __init__(self, xp):
        self._xp = xp

    def __getattr__(self, name):
        return getattr(self._xp, name)

    def empty(self, *args, **kwargs):
        a = self._xp.empty(*args, **kwargs)
        a.fill(np.nan)
        return a


@pytest.fixture
def gpu(monkeypatch):
    be = B.get("cupy")
    monkeypatch.setattr(be, "xp", _PoisonXP(be.xp))
    return be


def _ref(gpu):
    """The reference ops of ConvOps on the same device arrays."""
    r = ConvOps.__new__(ConvOps)
    r.xp = gpu.xp._xp
    return r


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, geo", GEOMETRIES)
def test_im2col_col2im_match_reference(gpu, shape, geo, dtype):
    rng = np.random.default_rng(3)
    x = gpu.xp.array(rng.standard_normal(shape).astype(dtype))
    got = gpu.conv_im2col(x, geo)
    want = _ref(gpu).conv_im2col(x, geo)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.get(), want.get())  # a copy: exact
    cols = gpu.xp.array(rng.standard_normal(want.shape).astype(dtype))
    got = gpu.conv_col2im(cols, shape, geo)
    want = _ref(gpu).conv_col2im(cols, shape, geo)
    assert got.shape == tuple(shape) and got.dtype == want.dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.get(), want.get(), rtol=tol, atol=tol)


def test_conv_layers_on_the_gpu_match_the_cpu():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((4, 2, 3, 3))
    wt = rng.standard_normal((4, 3, 2, 2))
    out = {}
    for name in ("numpy", "cupy"):
        gn.use(name)
        try:
            xs, ws, wts = (gn.tensor(a, requires_grad=True) for a in (x, w, wt))
            y = F.conv2d(xs, ws, stride=(1, 2), padding=1, groups=2)
            z = F.conv_transpose2d(y, wts, stride=2, groups=2, output_padding=1)
            (z * z).sum().backward()
            out[name] = [t.numpy() if hasattr(t, "numpy") else t for t in (z, xs.grad, ws.grad, wts.grad)]
        finally:
            gn.use("numpy")
    for a, b in zip(out["numpy"], out["cupy"]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)
