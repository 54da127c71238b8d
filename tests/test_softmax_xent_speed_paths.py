"""The CPU fused softmax + cross-entropy's fast paths: the vectorised float32 exp over the whole float32 range
(denormal results and underflow to 0 included), wide rows against float64 NumPy and PyTorch, extreme logits,
threads, and the checks."""
import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import torch_or_skip
from gpunet.backend import _numba, _parallel
from gpunet.backend.base import Backend
from gpunet.backend.numpy_backend import NumpyBackend

pytestmark = pytest.mark.skipif(_numba.kernels() is None, reason="compiled CPU kernels off or unavailable")

REF = Backend(np)
FAST = NumpyBackend()
F32_MAX = float(np.finfo(np.float32).max)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request, monkeypatch):
    monkeypatch.setattr(_parallel, "NUM_THREADS", request.param)
    monkeypatch.setattr(_parallel, "_pool", None)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1 << 10)  # make the threaded path run on test sizes
    return request.param


def _exp32(x):
    from gpunet.backend import _cpu_xent_kernels as X
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    X.exp32_array(x, out)
    return out


def _ulps(got, x):
    """|got − e^x| in units of the float32 spacing at e^x (the denormal spacing 2^−149 below 2^−126)."""
    ref = np.exp(x.astype(np.float64))
    spacing = np.spacing(np.minimum(ref, F32_MAX).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - ref) / spacing


def _floats_between(lo, hi, step):
    """Every ``step``-th float32 of [lo, hi] (lo < 0 < hi), by bit pattern: each binade is sampled."""
    pos = np.arange(0, np.float32(hi).view(np.int32), step, dtype=np.int32).view(np.float32)
    neg = -np.arange(0, np.float32(-lo).view(np.int32), step, dtype=np.int32).view(np.float32)
    return np.concatenate([pos, neg])


def test_exp32_within_2_ulp_over_the_finite_range():
    x = _floats_between(-103.9, 88.72, 2039)  # 1.1 M floats, every binade from the denormals up
    x = np.concatenate([x, np.random.default_rng(0).uniform(-103.9, 88.72, 400_000).astype(np.float32)])
    got = _exp32(x)
    assert np.isfinite(got).all()
    assert _ulps(got, x).max() <= 2


def test_exp32_denormal_results_and_underflow():
    x = np.linspace(-104.5, -87.0, 300_001, dtype=np.float32)  # e^−87.3 = 2^−126: the denormals start
    got = _exp32(x)
    ref = np.exp(x.astype(np.float64))
    assert _ulps(got, x).max() <= 2
    tiny = 2.0 ** -149
    assert (got[ref < tiny / 2 * 0.999] == 0).all()  # below half the smallest denormal: rounds to 0
    assert (got[ref > tiny * 1.001] > 0).all()
    assert ((got > 0) & (got < np.finfo(np.float32).tiny)).sum() > 100_000  # denormal outputs were tested


def test_exp32_overflow_and_special_values():
    x = np.array([88.72, 88.7228, 88.7229, 89.0, 100.0, 1e30, np.inf, -np.inf, -1e30, -200.0, -104.0, np.nan,
                  0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0], np.float32)
    got = _exp32(x)
    with np.errstate(over="ignore"):
        ref = np.exp(x.astype(np.float64)).astype(np.float32)  # correctly rounded to float32 (or inf)
    np.testing.assert_array_equal(got[4:], ref[4:])  # inf above, 0 below, NaN, exactly 1 at ±0 and tiny x
    assert np.isfinite(got[:2]).all() and np.isinf(got[3])
    assert got[2] == ref[2] or (np.isinf(ref[2]) and got[2] >= np.float32(F32_MAX))
    np.testing.assert_allclose(got[:2], ref[:2], rtol=3e-7)


def _check_against_float64(z, t, loss, probs, rtol=2e-5):
    z64 = z.astype(np.float64)
    m = z64.max(axis=1, keepdims=True)
    e = np.exp(z64 - m)
    s = e.sum(axis=1, keepdims=True)
    loss64 = np.log(s[:, 0]) - (z64[np.arange(len(t)), t] - m[:, 0])
    np.testing.assert_allclose(loss, loss64, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(probs, e / s, rtol=rtol, atol=1e-30)


@pytest.mark.parametrize("n,c", [(300, 10000), (256, 10), (64, 1024), (5, 1), (3, 37)])
def test_rows_match_float64(threads, n, c, rng):
    z = (rng.standard_normal((n, c)) * 4).astype(np.float32)
    t = rng.integers(0, c, n)
    loss, probs = FAST.softmax_xent_forward(z, t)
    assert loss.dtype == probs.dtype == np.float32
    _check_against_float64(z, t, loss, probs)
    w = rng.standard_normal(n).astype(np.float32)
    d = FAST.softmax_xent_backward(probs, t, w)
    np.testing.assert_allclose(d, REF.softmax_xent_backward(probs, t, w), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(FAST.softmax_xent_backward(probs, t, np.float32(0.5)),
                               REF.softmax_xent_backward(probs, t, np.float32(0.5)), rtol=1e-6, atol=1e-12)


def test_extreme_logits_match_float64(rng):
    """Huge spreads (probabilities that underflow to denormals and 0), −inf entries (masked classes), huge
    magnitudes: the max shift and the exp's range must hold."""
    c = 2000
    z = (rng.standard_normal((6, c)) * 3).astype(np.float32)
    z[0, ::3] = -np.inf
    z[1] *= 40  # a spread of ~1000: most probabilities are 0 or denormal
    z[2] = np.linspace(-110, 0, c)  # every magnitude of probability down to underflow
    z[3] += 1e30
    z[4] -= 3e38
    z[5, :] = -np.inf
    z[5, 7] = 0
    t = np.array([1, int(z[1].argmax()), c - 1, 5, 5, 7])
    loss, probs = FAST.softmax_xent_forward(z, t)
    assert np.isfinite(loss).all() and np.isfinite(probs).all()
    _check_against_float64(z[:2], t[:2], loss[:2], probs[:2])
    _check_against_float64(z[2:3], t[2:3], loss[2:3], probs[2:3])
    assert ((probs[2] > 0) & (probs[2] < np.finfo(np.float32).tiny)).any()
    assert (probs[0, ::3] == 0).all() and loss[5] == 0 and probs[5, 7] == 1
    l1, p1 = REF.softmax_xent_forward(z, t)
    np.testing.assert_allclose(loss, l1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probs, p1, rtol=1e-5, atol=1e-30)


def test_nan_and_inf_rows_give_nan_like_the_reference():
    z = np.zeros((3, 40), np.float32)
    z[0, 5] = np.nan
    z[1, 0] = np.inf
    z[2, :] = -np.inf
    t = np.array([0, 0, 0])
    with np.errstate(invalid="ignore"):
        l1, p1 = REF.softmax_xent_forward(z, t)
    loss, probs = FAST.softmax_xent_forward(z, t)
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(l1))
    np.testing.assert_array_equal(np.isnan(probs), np.isnan(p1))
    assert np.isnan(loss).all()


def test_float64_rows_stay_exact(threads, rng):
    z = rng.standard_normal((40, 3000)) * 10
    t = rng.integers(0, 3000, 40)
    loss, probs = FAST.softmax_xent_forward(z, t)
    l1, p1 = REF.softmax_xent_forward(z, t)
    np.testing.assert_allclose(loss, l1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(probs, p1, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("bad_row", [1, 590])
def test_bad_target_names_its_row_in_any_span(threads, bad_row):
    t = np.zeros(600, np.int64)
    t[bad_row] = 9
    t[599] = -1
    with pytest.raises(IndexError, match=f"target 9 at row {bad_row} is outside"):
        FAST.softmax_xent_forward(np.zeros((600, 9), np.float32), t)
    with pytest.raises(ValueError, match="does not fit"):
        FAST.softmax_xent_backward(np.zeros((600, 9), np.float32), np.zeros(600, np.int64), np.ones(3, np.float32))


@pytest.mark.torch
@pytest.mark.parametrize("opts", [{}, {"label_smoothing": 0.1}, {"weight": True, "ignore_index": 3}])
def test_wide_rows_like_torch(threads, opts, rng):
    """The loss and logits gradient of a (200, 5000) float32 cross-entropy against PyTorch float64."""
    torch = torch_or_skip()
    n, c = 200, 5000
    z = (rng.standard_normal((n, c)) * 3).astype(np.float32)
    t = rng.integers(0, c, n)
    t[::7] = 3
    w = rng.uniform(0.5, 2, c).astype(np.float32) if opts.get("weight") else None
    kw = {k: v for k, v in opts.items() if k != "weight"}
    x = gn.tensor(z, requires_grad=True)
    loss = F.cross_entropy(x, gn.tensor(t), None if w is None else gn.tensor(w), **kw)
    loss.backward()
    xt = torch.tensor(z.astype(np.float64), requires_grad=True)
    wt = None if w is None else torch.tensor(w, dtype=torch.float64)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), wt, **kw)
    lt.backward()
    np.testing.assert_allclose(float(loss.item()), lt.item(), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-10)
