"""The NumPy backend's direct vector convolution kernels (float32 stride-1 5x5 by default): that they run exactly
where they should, and forward, input, weight and bias gradients against the float64 direct reference and
PyTorch, over row segments, register blocks of every size, odd and asymmetric padding, one input channel and
batches split over the cores."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet.backend import _numba
from gpunet.backend import _numpy_direct_conv as direct
from gpunet.backend._numpy_conv import NumpyConv
from conftest import record_calls
from test_conv import ref_conv2d

pytestmark = pytest.mark.skipif(_numba.kernels() is None, reason="the direct kernels are compiled")


@pytest.fixture
def calls(monkeypatch):
    """Every kernel size 1x1 … 7x7 on; the list of the direct forward's input shapes."""
    monkeypatch.setattr(NumpyConv, "direct_conv", True)
    monkeypatch.setattr(NumpyConv, "direct_kernel_sizes", frozenset((i, j) for i in range(1, 8) for j in range(1, 8)))
    monkeypatch.setattr(NumpyConv, "winograd", False)
    gn.use("numpy")
    return record_calls(monkeypatch, direct, "forward", lambda args: args[2].shape)


def _ref_grads(x, w, b, padding, g):
    """y, dx, dW, db in float64 by the direct reference and its adjoints (finite sums)."""
    torch = pytest.importorskip("torch")
    tx, tw, tb = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=padding)
    ty.backward(torch.tensor(g.astype(np.float64)))
    return [t.detach().numpy() for t in (ty, tx.grad, tw.grad, tb.grad)]


@pytest.mark.parametrize("shape, o, k, padding", [
    ((2, 3, 7, 6), 4, (5, 5), 2),            # one row segment, OB = 4
    ((3, 16, 14, 14), 32, (5, 5), 2),        # LeNet's conv2
    ((4, 1, 28, 28), 16, (5, 5), 2),         # LeNet's conv1: one input channel, 4 vectors a row
    ((2, 5, 9, 23), 6, (5, 5), (1, 3)),      # asymmetric padding, O = 6 (OB = 2)
    ((1, 2, 5, 5), 3, (5, 5), 0),            # O = 3 (OB = 1), a 1 x 1 output
    ((2, 3, 6, 70), 5, (5, 5), (2, 1)),      # rows of 3 segments of 32 pixels
    ((1, 3, 11, 9), 2, (7, 7), 3),           # 7 x 7
    # kernel sizes the default leaves to im2col (each compiles its own kernels: in the slow run)
    pytest.param((2, 3, 6, 70), 5, (3, 5), (2, 1), marks=pytest.mark.slow),
    pytest.param((2, 4, 8, 8), 8, (1, 1), 0, marks=pytest.mark.slow),
])
def test_forward_and_gradients_match_float64(calls, shape, o, k, padding):
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(shape).astype(np.float32)
    w0 = (rng.standard_normal((o, shape[1]) + k) / np.sqrt(shape[1] * k[0] * k[1])).astype(np.float32)
    b0 = rng.standard_normal(o).astype(np.float32)
    x, W, b = (gn.tensor(a, requires_grad=True) for a in (x0, w0, b0))
    y = F.conv2d(x, W, b, padding=padding)
    g0 = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(gn.tensor(g0))
    assert calls == [shape]  # (dX runs the forward kernel on dY's padded copy directly)
    for got, want in zip((y, x.grad, W.grad, b.grad), _ref_grads(x0, w0, b0, padding, g0)):
        got = got.numpy()
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-6 * np.abs(want).max())
    p = padding if isinstance(padding, tuple) else (padding, padding)
    np.testing.assert_allclose(y.numpy(), ref_conv2d(x0.astype(np.float64), w0.astype(np.float64),
                                                     b0.astype(np.float64), 1, p, 1, 1), rtol=1e-4, atol=1e-5)


def test_cores_split_images_and_channels(calls, monkeypatch):
    from gpunet.backend import _parallel

    monkeypatch.setattr(_parallel, "NUM_THREADS", 3)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1)
    monkeypatch.setattr(direct, "IMAGES_PER_BLOCK", 2)
    rng = np.random.default_rng(1)
    for c in (7, 1):  # dW over channel spans, and (one channel) over image spans
        x0 = rng.standard_normal((5, c, 10, 12)).astype(np.float32)
        w0 = (rng.standard_normal((4, c, 5, 5)) / 5).astype(np.float32)
        b0 = rng.standard_normal(4).astype(np.float32)
        x, W, b = (gn.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        y = F.conv2d(x, W, b, padding=2)
        g0 = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(gn.tensor(g0))
        for got, want in zip((y, x.grad, W.grad, b.grad), _ref_grads(x0, w0, b0, 2, g0)):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=2e-6 * np.abs(want).max())
    assert calls


@pytest.mark.parametrize("kw", [dict(stride=2, padding=2), dict(dilation=2, padding=2), dict(groups=2, padding=2),
                                dict(padding=5)])
def test_other_convolutions_do_not_take_it(calls, kw):
    rng = np.random.default_rng(2)
    x = gn.tensor(rng.standard_normal((2, 4, 11, 11)).astype(np.float32))
    W = gn.tensor(rng.standard_normal((4, 4 // kw.get("groups", 1), 5, 5)).astype(np.float32))
    y = F.conv2d(x, W, **kw)
    assert calls == []
    np.testing.assert_allclose(y.numpy(), ref_conv2d(x.numpy().astype(np.float64), W.numpy().astype(np.float64), None,
                                                     kw.get("stride", 1), kw["padding"], kw.get("dilation", 1),
                                                     kw.get("groups", 1)), rtol=1e-4, atol=1e-4)


def test_default_is_float32_5x5_7x7_and_3x3_from_few_channels(monkeypatch):
    seen = record_calls(monkeypatch, direct, "forward", lambda args: args[3].shape)
    gn.use("numpy")
    rng = np.random.default_rng(3)
    for c, k, side, dt in ((2, 5, 9, np.float32), (2, 5, 9, np.float64), (2, 7, 9, np.float32), (2, 6, 9, np.float32),
                           (3, 3, 16, np.float32), (3, 3, 15, np.float32), (32, 3, 16, np.float32),
                           (33, 3, 16, np.float32), (16, 3, 32, np.float32)):  # the last: Winograd's
        F.conv2d(gn.tensor(rng.standard_normal((1, c, side, side)).astype(dt)),
                 gn.tensor(rng.standard_normal((16, c, k, k)).astype(dt)), padding=k // 2)
    assert seen == [(16, 2, 5, 5), (16, 2, 7, 7), (16, 3, 3, 3), (16, 32, 3, 3)]


def test_environment_turns_it_off():
    import os
    import subprocess
    import sys

    code = "from gpunet.backend._numpy_conv import NumpyConv; print(NumpyConv.direct_conv)"
    out = [subprocess.run([sys.executable, "-c", code], env={**os.environ, "GPUNET_DIRECT_CONV": v}, check=True,
                          capture_output=True, text=True).stdout.strip() for v in ("0", "1")]
    assert out == ["False", "True"]


@pytest.mark.parametrize("k, shape, dt", [(5, (3, 4, 14, 13), np.float32),   # the direct kernels' own ReLU
                                          (3, (2, 16, 32, 32), np.float32),  # Winograd, then the ReLU
                                          (3, (2, 3, 7, 9), np.float32),     # im2col chunks, then the ReLU
                                          (5, (2, 3, 7, 9), np.float64)])
@pytest.mark.parametrize("nd", [2, 1])
def test_sequential_conv_relu_is_one_node_with_the_same_results(k, shape, dt, nd):
    from gpunet import nn

    gn.use("numpy")
    rng = np.random.default_rng(7)
    if nd == 1:
        shape = shape[:2] + (shape[2] * shape[3],)
    conv = (nn.Conv2d if nd == 2 else nn.Conv1d)(shape[1], 8, k, padding=k // 2).to(dtype=dt)
    fused = nn.Sequential(conv, nn.ReLU())
    x0 = rng.standard_normal(shape).astype(dt)
    x0[(0,) * len(shape)] = np.nan  # a NaN passes through the ReLU and takes no gradient, as in torch
    g0 = rng.standard_normal(shape[:1] + (8,) + shape[2:]).astype(dt)
    grads = []
    for run in (fused, lambda x: F.relu(conv(x))):
        x = gn.tensor(x0, requires_grad=True)
        conv.zero_grad()
        y = run(x)
        assert (y.grad_fn.__class__.__name__ == "ConvNd") is (run is fused)
        y.backward(gn.tensor(g0))
        grads.append([t.numpy() for t in (y, x.grad, conv.weight.grad, conv.bias.grad)])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.nanmax(np.abs(b)))


def test_fused_relu_gradients_without_an_input_or_weight_gradient():
    from gpunet import nn

    gn.use("numpy")
    rng = np.random.default_rng(8)
    conv = nn.Conv2d(2, 4, 5, padding=2)
    fused = nn.Sequential(conv, nn.ReLU())
    x0 = rng.standard_normal((3, 2, 9, 11)).astype(np.float32)
    g0 = rng.standard_normal((3, 4, 9, 11)).astype(np.float32)
    w0, b0 = conv.weight.numpy().copy(), conv.bias.numpy().copy()
    _, _, dW, db = _ref_grads(x0, w0, b0, 2, g0 * (F.relu(conv(gn.tensor(x0))).numpy() > 0))
    for freeze in (False, True):
        conv.zero_grad()
        conv.weight.requires_grad_(not freeze)
        fused(gn.tensor(x0)).backward(gn.tensor(g0))  # the input wants no gradient
        np.testing.assert_allclose(conv.bias.grad.numpy(), db, rtol=1e-5, atol=1e-5)
        if not freeze:
            np.testing.assert_allclose(conv.weight.grad.numpy(), dW, rtol=1e-4, atol=1e-5 * np.abs(dW).max())


@pytest.mark.parametrize("h, w, pt, pl, hp, wp", [(3, 14, 2, 2, 7, 20), (2, 5, 0, 0, 2, 8), (4, 17, 1, 3, 6, 23),
                                                   (1, 8, 0, 0, 1, 8), (2, 3, 1, 0, 5, 3)])
def test_pad_planes_places_the_planes_in_zeros_with_the_relu_mask(h, w, pt, pl, hp, wp):
    from gpunet.backend import _cpu_direct_conv as D

    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, h, w)).astype(np.float32)
    m = rng.standard_normal((3, h, w)).astype(np.float32)
    x[0, 0, 0], m[0, -1, -1] = np.nan, np.nan  # NaN through where the ReLU passes it; NaN mask: no gradient
    m[0, 0, 0] = 1.0
    for masked in (False, True):
        out = np.full(3 * hp * wp + 8, 7.0, np.float32)  # the 8 past the end must stay untouched
        sums = np.empty(3, np.float32)
        D.pad_planes(x.reshape(-1), m.reshape(-1), masked, out[:-8], h, w, pt, pl, hp, wp, sums)
        want = np.zeros((3, hp, wp), np.float32)
        want[:, pt:pt + h, pl:pl + w] = np.where(m > 0, x, 0) if masked else x
        np.testing.assert_array_equal(out[:-8].reshape(3, hp, wp), want)
        assert (out[-8:] == 7).all()
        np.testing.assert_allclose(sums, want.astype(np.float64).sum(axis=(1, 2)), rtol=1e-5, atol=1e-5)


def test_masked_vector_loads_and_stores_touch_only_their_lanes():
    from numba import njit

    from gpunet.backend._simd import vload_n, vstore_n

    @njit
    def copy_n(src, dst, i, n):
        vstore_n(dst, i, n, vload_n(src, i, n))

    src = np.arange(1, 17, dtype=np.float32)
    for n in range(9):
        dst = np.full(16, -1.0, np.float32)
        copy_n(src, dst, 3, n)
        want = np.full(16, -1.0, np.float32)
        want[3:3 + n] = src[3:3 + n]
        np.testing.assert_array_equal(dst, want)
    tail = np.arange(1, 4, dtype=np.float32)  # the masked lanes past the array's end are never read or written
    dst = np.zeros(3, np.float32)
    copy_n(tail, dst, 0, 3)
    np.testing.assert_array_equal(dst, tail)
