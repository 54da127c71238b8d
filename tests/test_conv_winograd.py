"""The NumPy backend's Winograd F(2x2, 3x3) convolution (stride-1 3x3, on by default for float32): its transform
matrices, that it runs exactly where it should, forward against the direct float64 reference, gradients by
gradcheck (float64 allowed here) and against im2col and PyTorch in float32, on odd and even sizes, every padding it
takes and batches that split over the cores in blocks."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import record_calls, to_numpy
from gpunet.backend import _numba
from gpunet.backend import _numpy_winograd as wino
from gpunet.backend._numpy_conv import NumpyConv
from test_conv import ref_conv2d

pytestmark = pytest.mark.skipif(_numba.kernels() is None, reason="the Winograd transforms are compiled kernels")


@pytest.fixture
def calls(monkeypatch):
    """The Winograd path on in float32 and float64 for any channel count; the list of its forward calls."""
    monkeypatch.setattr(NumpyConv, "winograd", True)
    monkeypatch.setattr(NumpyConv, "winograd_dtypes", (np.dtype(np.float32), np.dtype(np.float64)))
    monkeypatch.setattr(NumpyConv, "winograd_channels", (1, 1 << 30))
    monkeypatch.setattr(NumpyConv, "winograd_min_pixels", 1)
    gn.use("numpy")
    return record_calls(monkeypatch, wino, "forward", lambda args: args[2].shape)


@pytest.mark.parametrize("m, r", [(2, 3), (2, 5), (4, 3)])
def test_matrices_compute_the_correlation(m, r):
    AT, G, BT = wino.winograd_matrices(m, r, np.float64)
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(m + r - 1), rng.standard_normal(r)
    want = [sum(g[k] * d[i + k] for k in range(r)) for i in range(m)]
    np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), want, rtol=1e-13, atol=1e-13)


def test_matrices_are_the_usual_ones():
    AT, _, BT = wino.winograd_matrices(2, 3, np.float64)
    np.testing.assert_array_equal(BT, [[-1, 0, 1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]])
    np.testing.assert_array_equal(AT, [[1, 1, 1, 0], [0, 1, -1, 1]])
    AT, G, BT = wino.winograd_matrices(4, 3, np.float64)  # Lavin and Gray's
    np.testing.assert_array_equal(BT, [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                                       [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]])
    np.testing.assert_array_equal(AT, [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                                       [0, 1, -1, 8, -8, 1]])
    np.testing.assert_allclose(G, [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], rtol=1e-15)


@pytest.mark.parametrize("shape, o, p", [((2, 3, 7, 6), 4, 1), ((1, 2, 6, 5), 3, 0), ((2, 2, 9, 8), 3, 2),
                                         ((1, 3, 4, 3), 2, 2), ((3, 2, 5, 5), 2, 1), ((1, 1, 3, 3), 1, 0)])
def test_forward_and_gradients(calls, shape, o, p):
    rng = np.random.default_rng(1)
    x = gn.tensor(rng.standard_normal(shape), requires_grad=True)
    W = gn.tensor(rng.standard_normal((o, shape[1], 3, 3)), requires_grad=True)
    b = gn.tensor(rng.standard_normal(o), requires_grad=True)
    y = F.conv2d(x, W, b, padding=p)
    assert calls == [shape]
    np.testing.assert_allclose(to_numpy(y), ref_conv2d(to_numpy(x), to_numpy(W), to_numpy(b), 1, p, 1, 1),
                               rtol=1e-11, atol=1e-11)
    gn.gradcheck(lambda x, W, b: F.conv2d(x, W, b, padding=p), [x, W, b])


def _grads(x0, w0, b0, p, g0):
    x, W = gn.tensor(x0, requires_grad=True), gn.tensor(w0, requires_grad=True)
    b = gn.tensor(b0, requires_grad=True)
    y = F.conv2d(x, W, b, padding=p)
    y.backward(gn.tensor(g0))
    return [t.numpy() for t in (y, x.grad, W.grad, b.grad)]


@pytest.mark.parametrize("shape, o, p", [((3, 8, 10, 9), 8, 1), ((5, 16, 17, 12), 24, 1), ((2, 12, 33, 31), 9, 0),
                                         ((4, 8, 6, 11), 16, 2)])
def test_float32_matches_im2col(calls, monkeypatch, shape, o, p):
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal(shape).astype(np.float32)
    w0 = (rng.standard_normal((o, shape[1], 3, 3)) / np.sqrt(9 * shape[1])).astype(np.float32)
    b0 = rng.standard_normal(o).astype(np.float32)
    oh, ow = shape[2] + 2 * p - 2, shape[3] + 2 * p - 2
    g0 = rng.standard_normal((shape[0], o, oh, ow)).astype(np.float32)
    got = _grads(x0, w0, b0, p, g0)
    assert len(calls) == 2  # forward, and dX as the convolution of dY
    monkeypatch.setattr(NumpyConv, "winograd", False)
    want = _grads(x0, w0, b0, p, g0)
    assert len(calls) == 2
    for a, w in zip(got, want):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, w, rtol=1e-4, atol=1e-5 * np.abs(w).max())


@pytest.mark.parametrize("tiles", [1, 100])
def test_many_blocks_over_the_cores(calls, monkeypatch, tiles):
    """Blocks split over two cores: several to an image (of 8 tiles, the last one shorter, some across tile rows),
    or two whole images (of 35 tiles) to a block."""
    from gpunet.backend import _parallel

    monkeypatch.setattr(wino, "BLOCK_TILES", tiles)
    monkeypatch.setattr(_parallel, "NUM_THREADS", 2)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1)
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((3, 4, 13, 7))
    w0, b0 = rng.standard_normal((5, 4, 3, 3)), rng.standard_normal(5)
    g0 = rng.standard_normal((3, 5, 13, 7))
    y, dx, dW, db = _grads(x0, w0, b0, 1, g0)
    assert calls
    np.testing.assert_allclose(y, ref_conv2d(x0, w0, b0, 1, 1, 1, 1), rtol=1e-11, atol=1e-11)
    monkeypatch.setattr(NumpyConv, "winograd", False)
    for a, w in zip((y, dx, dW, db), _grads(x0, w0, b0, 1, g0)):
        np.testing.assert_allclose(a, w, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(dilation=2, padding=2), dict(groups=2, padding=1),
                                dict(padding=(1, 0)), dict(padding=3)])
def test_other_convolutions_do_not_take_it(calls, kw):
    rng = np.random.default_rng(4)
    x = gn.tensor(rng.standard_normal((2, 4, 9, 9)))
    W = gn.tensor(rng.standard_normal((4, 4 // kw.get("groups", 1), 3, 3)))
    y = F.conv2d(x, W, **kw)
    assert calls == []
    np.testing.assert_allclose(to_numpy(y), ref_conv2d(to_numpy(x), to_numpy(W), None, kw.get("stride", 1),
                                                       kw["padding"], kw.get("dilation", 1), kw.get("groups", 1)),
                               rtol=1e-10, atol=1e-10)


def test_default_is_float32_with_16_to_64_channels_on_large_images(monkeypatch):
    seen = record_calls(monkeypatch, wino, "forward", lambda args: args[2].shape[1:])
    gn.use("numpy")
    rng = np.random.default_rng(5)
    for c, o, side, dt in ((16, 64, 32, np.float32), (64, 16, 34, np.float32), (8, 16, 32, np.float32),
                           (16, 128, 32, np.float32), (16, 16, 31, np.float32), (16, 16, 32, np.float64)):
        F.conv2d(gn.tensor(rng.standard_normal((1, c, side, side)).astype(dt)),
                 gn.tensor(rng.standard_normal((o, c, 3, 3)).astype(dt)), padding=1 if side != 34 else 0)
    assert seen == [(16, 32, 32), (64, 34, 34)]


def test_float32_matches_torch(calls):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x0 = rng.standard_normal((4, 16, 12, 12)).astype(np.float32)
    w0 = (rng.standard_normal((16, 16, 3, 3)) / 12).astype(np.float32)
    b0 = rng.standard_normal(16).astype(np.float32)
    g0 = rng.standard_normal((4, 16, 12, 12)).astype(np.float32)
    got = _grads(x0, w0, b0, 1, g0)
    tx, tw, tb = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x0, w0, b0))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=1)
    ty.backward(torch.tensor(g0.astype(np.float64)))
    for a, t in zip(got, (ty, tx.grad, tw.grad, tb.grad)):
        t = t.detach().numpy()
        np.testing.assert_allclose(a, t, rtol=1e-4, atol=1e-5 * np.abs(t).max())


@pytest.mark.parametrize("n, th, tw", [(3, 16, 16), (5, 1, 1), (40, 7, 4), (2, 40, 3), (3, 5, 90), (9, 3, 2)])
def test_blocks_cover_every_tile_once(n, th, tw):
    per_image = th * (tw + 1)
    covered = np.zeros((n, per_image), dtype=int)
    for n0, n1, f0, L in wino._blocks(n, th, tw):
        assert (n1 - n0) * L <= wino.BLOCK_TILES + 7 and (n1 - n0 == 1 or (f0, L) == (0, per_image))
        covered[n0:n1, f0:f0 + L] += 1
    assert (covered == 1).all()


def test_environment_turns_it_off():
    import os
    import subprocess
    import sys

    code = "from gpunet.backend._numpy_conv import NumpyConv; print(NumpyConv.winograd)"
    out = [subprocess.run([sys.executable, "-c", code], env={**os.environ, "GPUNET_WINOGRAD": v}, check=True,
                          capture_output=True, text=True).stdout.strip() for v in ("0", "1")]
    assert out == ["False", "True"]
