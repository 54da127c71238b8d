"""The NumPy backend's opt-in Winograd F(2x2, r x r) convolution (off by default): its transform matrices, forward
against the direct reference, and gradients by gradcheck (float64 allowed here) and against im2col in float32."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy
from gpunet.backend import _numba
from gpunet.backend._numpy_conv import NumpyConv, winograd_matrices
from test_conv import ref_conv2d

pytestmark = pytest.mark.skipif(_numba.kernels() is None, reason="the Winograd transforms are compiled kernels")


@pytest.fixture
def winograd(monkeypatch):
    monkeypatch.setattr(NumpyConv, "winograd_tiles", {3: 2, 5: 2})
    monkeypatch.setattr(NumpyConv, "winograd_dtypes", (np.dtype(np.float32), np.dtype(np.float64)))
    monkeypatch.setattr(NumpyConv, "winograd_min_channels", 1)
    gn.use("numpy")


@pytest.mark.parametrize("m, r", [(2, 3), (2, 5), (4, 3)])
def test_matrices_compute_the_correlation(m, r):
    AT, G, BT = winograd_matrices(m, r, np.float64)
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(m + r - 1), rng.standard_normal(r)
    want = [sum(g[k] * d[i + k] for k in range(r)) for i in range(m)]
    np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape, o, k, p", [((2, 3, 7, 6), 4, 3, 1), ((1, 2, 6, 5), 3, 3, 0), ((2, 2, 9, 8), 3, 5, 2),
                                            ((1, 3, 4, 3), 2, 3, 2), ((2, 2, 7, 7), 2, 5, 1)])
def test_forward_and_gradients(winograd, shape, o, k, p):
    rng = np.random.default_rng(1)
    x = gn.tensor(rng.standard_normal(shape), requires_grad=True)
    W = gn.tensor(rng.standard_normal((o, shape[1], k, k)), requires_grad=True)
    b = gn.tensor(rng.standard_normal(o), requires_grad=True)
    y = F.conv2d(x, W, b, padding=p)
    assert y.grad_fn.fast is not None  # the Winograd path ran
    np.testing.assert_allclose(to_numpy(y), ref_conv2d(to_numpy(x), to_numpy(W), to_numpy(b), 1, p, 1, 1),
                               rtol=1e-11, atol=1e-11)
    gn.gradcheck(lambda x, W, b: F.conv2d(x, W, b, padding=p), [x, W, b])


def test_float32_matches_im2col(winograd, monkeypatch):
    rng = np.random.default_rng(2)
    x0, w0 = rng.standard_normal((3, 8, 10, 9)).astype(np.float32), rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    grads = []
    for tiles in ({3: 2}, {}):
        monkeypatch.setattr(NumpyConv, "winograd_tiles", tiles)
        x, W = gn.tensor(x0, requires_grad=True), gn.tensor(w0, requires_grad=True)
        y = F.conv2d(x, W, padding=1)
        (y * y).sum().backward()
        grads.append([to_numpy(t) for t in (y, x.grad, W.grad)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())
