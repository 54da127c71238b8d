"""The NumPy backend's chunked im2col + GEMM convolution (``gpunet.backend._numpy_conv_gemm``): forward and every
gradient against the float64 reference and the whole-batch path, with the batch split over two spans and into
one- and several-sample chunks, both input-gradient routes, columns kept or rebuilt, and the first layer's dX
skipped."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet.backend import _numpy_conv_gemm, _parallel
from gpunet.backend._numpy_conv import NumpyConv
from test_conv import ref_conv2d

CASES = [  # x shape, weight shape, stride, padding, dilation
    ((5, 3, 7, 6), (4, 3, 3, 3), 1, 1, 1),
    ((4, 2, 8, 7), (3, 2, 3, 2), 2, (1, 0), 1),
    ((3, 2, 9, 8), (5, 2, 2, 3), (2, 1), (1, 2), (2, 1)),
    ((4, 3, 6, 7), (2, 3, 4, 2), 1, "same", (1, 2)),
    ((3, 4, 6, 6), (4, 4, 5, 5), 1, 2, 1),
]


@pytest.fixture(params=[(1, 1), (2, 1), (2, 64 << 10)], ids=["one-span-per-sample", "two-spans-per-sample",
                                                             "two-spans-chunks"])
def split(request, monkeypatch):
    parts, chunk = request.param
    monkeypatch.setattr(_parallel, "parts", lambda n, per=1: max(1, min(parts, n)))
    monkeypatch.setattr(_numpy_conv_gemm, "chunk_bytes", chunk)
    gn.use("numpy")


def _grads(x, w, b, args, chunked, monkeypatch):
    monkeypatch.setattr(NumpyConv, "conv_chunked", chunked)
    xt = gn.tensor(x, requires_grad=True)
    wt = gn.tensor(w, requires_grad=True)
    bt = gn.tensor(b, requires_grad=True)
    y = F.conv2d(xt, wt, bt, *args)
    g = np.random.default_rng(3).standard_normal(y.shape)
    (y * gn.tensor(g)).sum().backward()
    return [np.asarray(a) for a in (y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())]


@pytest.mark.parametrize("as_conv, keep", [(True, True), (False, False), (True, False), (False, True)])
@pytest.mark.parametrize("case", CASES)
def test_chunked_matches_reference_and_whole_batch(split, monkeypatch, case, as_conv, keep):
    """dX by either route, forward's columns kept or rebuilt: the reference's values and the whole-batch gradients."""
    monkeypatch.setattr(NumpyConv, "conv_dx_as_conv", lambda self, *a: as_conv)
    monkeypatch.setattr(NumpyConv, "conv_keep_cols", lambda self, *a: keep)
    xs, ws, *args = case
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    got = _grads(x, w, b, args, True, monkeypatch)
    want = _grads(x, w, b, args, False, monkeypatch)
    np.testing.assert_allclose(got[0], ref_conv2d(x, w, b, *args, 1), rtol=1e-10, atol=1e-10)
    for a, e in zip(got, want):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-10)


def test_chunked_float32_and_no_input_grad(split):
    rng = np.random.default_rng(1)
    x = gn.tensor(rng.standard_normal((4, 2, 6, 6)).astype(np.float32))  # the data: no dX wanted
    W = gn.tensor(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, W, None, 1, 1)
    assert y.dtype == gn.float32
    y.sum().backward()
    assert x.grad is None and W.grad.dtype == gn.float32
    xd = x.numpy().astype(np.float64)
    want = ref_conv2d(xd, W.numpy().astype(np.float64), None, 1, 1, 1, 1)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)
    # dW = Σ over pixels of the input window: the correlation of x with a ones upstream
    dW = np.stack([ref_conv2d(xd[:, c:c + 1].transpose(1, 0, 2, 3), np.ones((1, 4, 6, 6)), None, 1, 1, 1, 1)[0]
                   for c in range(2)], axis=1)
    np.testing.assert_allclose(W.grad.numpy(), np.broadcast_to(dW, (3, 2, 3, 3)), rtol=1e-4, atol=1e-4)


def test_conv1d_chunked(split):
    rng = np.random.default_rng(2)
    x = gn.tensor(rng.standard_normal((3, 2, 9)), requires_grad=True)
    W = gn.tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)
    gn.gradcheck(lambda x, W: F.conv1d(x, W, None, 2, 1), [x, W])


@pytest.mark.parametrize("pads", [(2, 2, 2, 2), (0, 1, 1, 0), (1, 0, 0, 3), (3, 2, 0, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pad_planes_kernel_matches_np_pad(pads, dtype):
    """The compiled padded copy im2col uses (frame of zeros + interior in one pass) against np.pad, over a
    scratch buffer that starts as garbage."""
    from gpunet.backend import _numba

    if _numba.kernels() is None:
        pytest.skip("needs the compiled CPU kernels")
    from gpunet.backend._cpu_conv_kernels import pad_planes

    pt, pb, pl, pr = pads
    x = np.random.default_rng(0).standard_normal((3, 5, 7, 6)).astype(dtype)
    want = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    out = np.full(want.shape, np.nan, dtype)
    pad_planes(x.reshape(-1), out.reshape(-1), 7, 6, pt, pl, 7 + pt + pb, 6 + pl + pr)
    np.testing.assert_array_equal(out, want)
