"""The CPU backend's fused ops against the Backend base class's plain-xp references (the contract of every
specialisation), on awkward sizes, both float dtypes; blocks and threads must not change the numbers."""
import numpy as np
import pytest

from gpunet.backend import _parallel
from gpunet.backend.base import Backend
from gpunet.backend.numpy_backend import NumpyBackend

REF = Backend(np)
FAST = NumpyBackend()
SIZES = [(1, 3, 5), (7, 4, 3), (129, 33, 65), (200, 31, 300)]
ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu"]


def _tol(dt):
    return dict(rtol=1e-11, atol=1e-11) if dt == np.float64 else dict(rtol=2e-4, atol=2e-4)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request, monkeypatch):
    monkeypatch.setattr(_parallel, "NUM_THREADS", request.param)
    monkeypatch.setattr(_parallel, "_pool", None)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1 << 10)
    monkeypatch.setattr(_parallel, "BLOCK", 1 << 11)  # several blocks per thread on test sizes  # make the threaded path run on test sizes
    return request.param


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("n,k,c", SIZES)
@pytest.mark.parametrize("act", ACTS)
def test_linear_act_matches_reference(threads, act, n, k, c, dt, rng):
    x, W, b, g = (rng.standard_normal(s).astype(dt) for s in [(n, k), (c, k), (c,), (n, c)])
    y1, s1 = REF.linear_act_forward(x, W, b, act, 0.1)
    y2, s2 = FAST.linear_act_forward(x, W, b, act, 0.1)
    np.testing.assert_allclose(y2, y1, **_tol(dt))
    assert y2.dtype == dt
    for need in [(True, True, True), (False, True, False)]:
        r1 = REF.linear_act_backward(x, W, s1, g, act, 0.1, *need)
        r2 = FAST.linear_act_backward(x, W, s2, g, act, 0.1, *need)
        for a, b_ in zip(r1, r2):
            assert (a is None) == (b_ is None)
            if a is not None:
                np.testing.assert_allclose(b_, a, rtol=_tol(dt)["rtol"], atol=_tol(dt)["atol"] * max(n, k))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("n,c", [(2, 3), (7, 5), (129, 65), (200, 300)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_matches_reference(threads, n, c, dt, affine, rng):
    x = (rng.standard_normal((n, c)) * 3 + 5).astype(dt)
    g = rng.standard_normal((n, c)).astype(dt)
    gamma = rng.standard_normal(c).astype(dt) if affine else None
    beta = rng.standard_normal(c).astype(dt) if affine else None
    rm1, rv1 = np.zeros(c, dt), np.ones(c, dt)
    rm2, rv2 = rm1.copy(), rv1.copy()
    y1, s1 = REF.batchnorm_forward(x, gamma, beta, rm1, rv1, True, 0.1, 1e-5)
    y2, s2 = FAST.batchnorm_forward(x, gamma, beta, rm2, rv2, True, 0.1, 1e-5)
    np.testing.assert_allclose(y2, y1, **_tol(dt))
    np.testing.assert_allclose(rm2, rm1, **_tol(dt))
    np.testing.assert_allclose(rv2, rv1, **_tol(dt))
    d1 = REF.batchnorm_backward(s1, gamma, g, True)
    d2 = FAST.batchnorm_backward(s2, gamma, g, True)
    for a, b_ in zip(d1, d2):
        assert (a is None) == (b_ is None)
        if a is not None:
            np.testing.assert_allclose(b_, a, rtol=_tol(dt)["rtol"], atol=_tol(dt)["atol"] * np.sqrt(n))


def test_batchnorm_float32_large_mean_is_stable(rng):
    """Shifted sums: a mean 1e4 times the std loses nothing a float32 input still holds."""
    x64 = rng.standard_normal((512, 64)) * 0.5 + 1e4
    x = x64.astype(np.float32)
    y, _ = FAST.batchnorm_forward(x, None, None, None, None, True, 0.1, 1e-5)
    ref, _ = REF.batchnorm_forward(x.astype(np.float64), None, None, None, None, True, 0.1, 1e-5)
    np.testing.assert_allclose(y, ref, atol=5e-3)
    naive_var = (x * x).mean(0) - x.mean(0) ** 2  # what the one-pass E[x²]−E[x]² gives in float32
    assert np.abs(naive_var - x64.var(0)).max() > 10 * np.abs(y.std(0) - 1).max()


def test_fast_path_falls_back_for_other_dtypes(rng):
    x = rng.standard_normal((4, 3)).astype(np.float16)
    W = rng.standard_normal((2, 3)).astype(np.float16)
    y, saved = FAST.linear_act_forward(x, W, None, "relu")
    dx, dW, db = FAST.linear_act_backward(x, W, saved, np.ones((4, 2), np.float16), "relu", need_b=False)
    assert y.dtype == np.float16 and dx.shape == x.shape and dW.shape == W.shape and db is None
