"""Max and average pooling (1-D, 2-D): forward against loop-based float64 references, gradcheck over every
backend, PyTorch float64 (outputs, indices, gradients), errors."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip, values_and_grads_like_torch

import gpunet as gn
import gpunet.functional as F
import gpunet.nn as nn


def out_len(L, k, s, p, d, ceil):
    o = (L + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= L + p:
        o -= 1
    return o


def ref_max_pool2d(x, k, s, p, d, ceil):
    """Loop reference: (values, flat indices) of (N, C, H, W)."""
    N, C, H, W = x.shape
    oh, ow = out_len(H, k[0], s[0], p[0], d[0], ceil), out_len(W, k[1], s[1], p[1], d[1], ceil)
    y = np.full((N, C, oh, ow), -np.inf)
    idx = np.zeros((N, C, oh, ow), np.int64)
    for n, c, i, j in itertools.product(range(N), range(C), range(oh), range(ow)):
        for a, b in itertools.product(range(k[0]), range(k[1])):
            h, w = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + b * d[1]
            if 0 <= h < H and 0 <= w < W and x[n, c, h, w] > y[n, c, i, j]:
                y[n, c, i, j], idx[n, c, i, j] = x[n, c, h, w], h * W + w
    return y, idx


def ref_avg_pool2d(x, k, s, p, ceil, count_include_pad, divisor=None):
    N, C, H, W = x.shape
    oh, ow = out_len(H, k[0], s[0], p[0], 1, ceil), out_len(W, k[1], s[1], p[1], 1, ceil)
    y = np.zeros((N, C, oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
        h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
        size = (h1 - h0) * (w1 - w0)
        h0c, w0c, h1c, w1c = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
        total = x[:, :, h0c:h1c, w0c:w1c].sum(axis=(2, 3))
        div = divisor or (size if count_include_pad else (h1c - h0c) * (w1c - w0c))
        y[:, :, i, j] = total / div
    return y


# (H, W, kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    (6, 6, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (7, 5, (2, 2), (2, 2), (0, 0), (1, 1), True),
    (7, 8, (3, 3), (2, 2), (1, 1), (1, 1), False),
    (7, 8, (3, 2), (2, 1), (1, 1), (1, 1), True),
    (9, 7, (3, 3), (2, 3), (1, 0), (2, 1), True),
    (5, 6, (2, 3), (1, 2), (0, 1), (2, 2), False),
    (4, 4, (4, 4), (1, 1), (2, 2), (1, 1), True),
]


def _t(a, grad=False):
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_forward_and_indices(backend, rng, case):
    H, W, k, s, p, d, ceil = case
    x = rng.standard_normal((2, 3, H, W))
    y, idx = F.max_pool2d(_t(x), k, s, p, d, ceil_mode=ceil, return_indices=True)
    ry, ridx = ref_max_pool2d(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(to_numpy(y), ry)
    np.testing.assert_array_equal(to_numpy(idx), ridx)
    assert idx.dtype == np.int64


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_gradcheck(backend, rng, case):
    H, W, k, s, p, d, ceil = case
    x = _t(rng.standard_normal((2, 2, H, W)), True)
    assert gn.gradcheck(lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode=ceil), [x])


def test_max_pool2d_float32_and_unbatched(backend, rng):
    x = rng.standard_normal((3, 6, 8)).astype(np.float32)
    y = F.max_pool2d(gn.tensor(x), 2)
    assert y.shape == (3, 3, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(y), x.reshape(3, 3, 2, 4, 2).max(axis=(2, 4)))


def test_max_pool2d_overlapping_gradient_accumulates(backend):
    x = _t(np.arange(16.0).reshape(1, 1, 4, 4), True)
    F.max_pool2d(x, 3, stride=1).sum().backward()   # the four windows' maxima: 10, 11, 14, 15
    g = np.zeros((4, 4))
    g[2, 2] = g[2, 3] = g[3, 2] = g[3, 3] = 1
    np.testing.assert_array_equal(to_numpy(x.grad)[0, 0], g)
    x = _t(np.ones((1, 1, 3, 3)) * np.array([[0, 0, 0], [0, 9, 0], [0, 0, 0]]), True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    assert to_numpy(x.grad)[0, 0, 1, 1] == 4


@pytest.mark.parametrize("L,k,s,p,d,ceil", [(9, 2, 2, 0, 1, False), (9, 3, 2, 1, 2, True), (10, 4, 3, 2, 1, True)])
def test_max_pool1d(backend, rng, L, k, s, p, d, ceil):
    x = rng.standard_normal((2, 3, L))
    y, idx = F.max_pool1d(_t(x), k, s, p, d, ceil, return_indices=True)
    ry, ridx = ref_max_pool2d(x[:, :, None, :], (1, k), (1, s), (0, p), (1, d), ceil)
    np.testing.assert_array_equal(to_numpy(y), ry[:, :, 0])
    np.testing.assert_array_equal(to_numpy(idx), ridx[:, :, 0])
    xt = _t(rng.standard_normal((2, 2, L)), True)
    assert gn.gradcheck(lambda x: F.max_pool1d(x, k, s, p, d, ceil), [xt])
    m = nn.MaxPool1d(k, s, p, d, ceil_mode=ceil)
    assert m(_t(x[0])).shape == y.shape[1:]


AVG_CASES = [
    (6, 6, (2, 2), (2, 2), (0, 0), False),
    (7, 5, (3, 3), (2, 2), (1, 1), True),
    (7, 8, (3, 2), (2, 1), (1, 1), False),
    (5, 9, (2, 4), (3, 2), (1, 2), True),
]


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool2d(backend, rng, case, count_include_pad):
    H, W, k, s, p, ceil = case
    x = rng.standard_normal((2, 3, H, W))
    y = F.avg_pool2d(_t(x), k, s, p, ceil, count_include_pad)
    np.testing.assert_allclose(to_numpy(y), ref_avg_pool2d(x, k, s, p, ceil, count_include_pad), rtol=1e-12,
                               atol=1e-14)
    xt = _t(rng.standard_normal((2, 2, H, W)), True)
    assert gn.gradcheck(lambda x: F.avg_pool2d(x, k, s, p, ceil, count_include_pad), [xt])


def test_avg_pool2d_divisor_override_and_1d(backend, rng):
    x = rng.standard_normal((2, 3, 6, 7))
    y = F.avg_pool2d(_t(x), 3, 2, 1, divisor_override=4)
    np.testing.assert_allclose(to_numpy(y), ref_avg_pool2d(x, (3, 3), (2, 2), (1, 1), False, True, 4), rtol=1e-12)
    x1 = rng.standard_normal((2, 3, 9))
    y1 = nn.AvgPool1d(3, 2, 1)(_t(x1))
    ref = ref_avg_pool2d(x1[:, :, None], (1, 3), (1, 2), (0, 1), False, True)[:, :, 0]
    np.testing.assert_allclose(to_numpy(y1), ref, rtol=1e-12)


# ------------------------------------------------------------------------------------------------- vs PyTorch
@pytest.mark.torch
@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_like_torch(rng, case):
    torch = torch_or_skip()
    H, W, k, s, p, d, ceil = case
    x = rng.standard_normal((2, 3, H, W))
    values_and_grads_like_torch(lambda x: F.max_pool2d(x, k, s, p, d, ceil, return_indices=True),
                                lambda x: torch.nn.functional.max_pool2d(x, k, s, p, d, ceil, return_indices=True),
                                x)
    values_and_grads_like_torch(lambda x: nn.MaxPool2d(k, s, p, d, ceil_mode=ceil)(x),
                                lambda x: torch.nn.MaxPool2d(k, s, p, d, ceil_mode=ceil)(x), x)


@pytest.mark.torch
@pytest.mark.parametrize("case", AVG_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_like_torch(rng, case, count_include_pad):
    torch = torch_or_skip()
    H, W, k, s, p, ceil = case
    x = rng.standard_normal((2, 3, H, W))
    values_and_grads_like_torch(lambda x: nn.AvgPool2d(k, s, p, ceil, count_include_pad)(x),
                                lambda x: torch.nn.AvgPool2d(k, s, p, ceil, count_include_pad)(x), x)
    values_and_grads_like_torch(lambda x: nn.AvgPool2d(k, s, p, ceil, count_include_pad, divisor_override=3)(x),
                                lambda x: torch.nn.AvgPool2d(k, s, p, ceil, count_include_pad, 3)(x), x)


@pytest.mark.torch
def test_pool1d_like_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 11))
    values_and_grads_like_torch(lambda x: F.max_pool1d(x, 3, 2, 1, 2, True, return_indices=True),
                                lambda x: torch.nn.functional.max_pool1d(x, 3, 2, 1, 2, True, return_indices=True), x)
    values_and_grads_like_torch(lambda x: F.avg_pool1d(x, 4, 3, 2, True, False),
                                lambda x: torch.nn.functional.avg_pool1d(x, 4, 3, 2, True, False), x)


def test_module_defaults_and_repr():
    m = nn.MaxPool2d(3)
    assert (m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, m.return_indices) == (3, 3, 0, 1, False,
                                                                                               False)
    assert "kernel_size=3" in repr(m)
    a = nn.AvgPool2d(2)
    assert (a.stride, a.count_include_pad, a.divisor_override) == (2, True, None)


# ------------------------------------------------------------------------------------------------- errors
def test_errors():
    x = gn.tensor(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.max_pool2d(x, 7)
    with pytest.raises(ValueError, match="half the kernel size"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="half the kernel size"):
        F.avg_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="stride must be positive"):
        F.max_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match=r"3-D \(C, H, W\) or 4-D"):
        F.max_pool2d(gn.tensor(np.zeros((5, 5), np.float32)), 2)
    with pytest.raises(ValueError, match=r"2-D \(C, L\) or 3-D"):
        nn.MaxPool1d(2)(x)
    with pytest.raises(ValueError, match="tuple of 2 ints"):
        F.max_pool2d(x, (2, 2, 2))
    with pytest.raises(TypeError, match="floating"):
        F.max_pool2d(gn.tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)


def _random_geometries(n, seed=11, dilation=True):
    """Random valid (H, W, kernel, stride, padding, dilation, ceil_mode) cases."""
    r = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        k = tuple(int(v) for v in r.integers(1, 5, 2))
        s = tuple(int(v) for v in r.integers(1, 4, 2))
        p = tuple(int(r.integers(0, kk // 2 + 1)) for kk in k)
        d = tuple(int(v) for v in r.integers(1, 3, 2)) if dilation else (1, 1)
        H, W = (int(v) for v in r.integers(1, 10, 2))
        ceil = bool(r.integers(0, 2))
        if all(out_len(L, kk, ss, pp, dd, ceil) >= 1 for L, kk, ss, pp, dd in zip((H, W), k, s, p, d)):
            out.append((H, W, k, s, p, d, ceil))
    return out


@pytest.mark.torch
def test_random_geometries_like_torch(backend, rng):
    torch = torch_or_skip()
    for H, W, k, s, p, d, ceil in _random_geometries(25):
        x = rng.standard_normal((2, 2, H, W))
        y, idx = F.max_pool2d(_t(x), k, s, p, d, ceil, return_indices=True)
        ty, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, d, ceil, return_indices=True)
        np.testing.assert_array_equal(to_numpy(y), ty.numpy())
        np.testing.assert_array_equal(to_numpy(idx), tidx.numpy())
    for H, W, k, s, p, _, ceil in _random_geometries(25, seed=12, dilation=False):
        x = rng.standard_normal((2, 2, H, W))
        for cip in (True, False):
            y = F.avg_pool2d(_t(x), k, s, p, ceil, cip)
            ty = torch.nn.functional.avg_pool2d(torch.tensor(x), k, s, p, ceil, cip)
            np.testing.assert_allclose(to_numpy(y), ty.numpy(), rtol=1e-12, atol=1e-14)


def test_random_geometries_gradcheck(backend, rng):
    for H, W, k, s, p, d, ceil in _random_geometries(6, seed=13):
        x = _t(rng.standard_normal((1, 2, H, W)), True)
        assert gn.gradcheck(lambda x: F.max_pool2d(x, k, s, p, d, ceil), [x])
        if d == (1, 1):
            assert gn.gradcheck(lambda x: F.avg_pool2d(x, k, s, p, ceil, False), [x])


def test_max_pool_nan_propagates(backend):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    y = to_numpy(F.max_pool2d(_t(x), 2))
    assert np.isnan(y[0, 0, 0, 0]) and np.isfinite(y.ravel()[1:]).all()


def test_empty_batch(backend):
    x = gn.tensor(np.zeros((0, 3, 6, 6), np.float32), requires_grad=True)
    for f in (lambda x: F.max_pool2d(x, 2), lambda x: F.avg_pool2d(x, 3, 2, 1), lambda x: F.adaptive_max_pool2d(x, 4),
              lambda x: F.adaptive_avg_pool2d(x, 4), lambda x: F.interpolate(x, scale_factor=2)):
        x.grad = None
        y = f(x)
        y.sum().backward()
        assert y.shape[:2] == (0, 3) and x.grad.shape == x.shape
