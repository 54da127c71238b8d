"""Adaptive average/max pooling, nearest upsampling, Unflatten and Dropout2d: loop references, gradcheck over
every backend, PyTorch float64, errors."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip, values_and_grads_like_torch

import gpunet as gn
import gpunet.functional as F
import gpunet.nn as nn


def _t(a, grad=False):
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def ref_adaptive(x, out, reduce):
    """Loop reference over (N, C, H, W): PyTorch's windows [floor(i·L/O), ceil((i+1)·L/O))."""
    N, C, H, W = x.shape
    oh, ow = out
    y = np.zeros((N, C, oh, ow))
    idx = np.zeros((N, C, oh, ow), np.int64)
    for i, j in itertools.product(range(oh), range(ow)):
        h0, h1 = (i * H) // oh, math.ceil((i + 1) * H / oh)
        w0, w1 = (j * W) // ow, math.ceil((j + 1) * W / ow)
        win = x[:, :, h0:h1, w0:w1]
        if reduce == "avg":
            y[:, :, i, j] = win.mean(axis=(2, 3))
        else:
            flat = win.reshape(N, C, -1)
            k = flat.argmax(axis=-1)
            y[:, :, i, j] = flat.max(axis=-1)
            idx[:, :, i, j] = (h0 + k // (w1 - w0)) * W + w0 + k % (w1 - w0)
    return y, idx


SIZES = [((6, 6), (3, 3)), ((7, 5), (3, 2)), ((5, 7), (1, 1)), ((4, 5), (6, 7)), ((9, 10), (4, None))]


@pytest.mark.parametrize("hw,out", SIZES)
def test_adaptive_avg(backend, rng, hw, out):
    x = rng.standard_normal((2, 3) + hw)
    full = tuple(hw[k] if o is None else o for k, o in enumerate(out))
    y = F.adaptive_avg_pool2d(_t(x), out)
    np.testing.assert_allclose(to_numpy(y), ref_adaptive(x, full, "avg")[0], rtol=1e-12, atol=1e-14)
    xt = _t(rng.standard_normal((2, 2) + hw), True)
    assert gn.gradcheck(lambda x: F.adaptive_avg_pool2d(x, out), [xt])


@pytest.mark.parametrize("hw,out", SIZES)
def test_adaptive_max(backend, rng, hw, out):
    x = rng.standard_normal((2, 3) + hw)
    full = tuple(hw[k] if o is None else o for k, o in enumerate(out))
    y, idx = F.adaptive_max_pool2d(_t(x), out, return_indices=True)
    ry, ridx = ref_adaptive(x, full, "max")
    np.testing.assert_array_equal(to_numpy(y), ry)
    np.testing.assert_array_equal(to_numpy(idx), ridx)
    xt = _t(rng.standard_normal((2, 2) + hw), True)
    assert gn.gradcheck(lambda x: F.adaptive_max_pool2d(x, out), [xt])


@pytest.mark.torch
@pytest.mark.parametrize("hw,out", SIZES)
def test_adaptive_like_torch(rng, hw, out):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3) + hw)
    values_and_grads_like_torch(lambda x: nn.AdaptiveAvgPool2d(out)(x), lambda x: torch.nn.AdaptiveAvgPool2d(out)(x),
                                x)
    values_and_grads_like_torch(lambda x: nn.AdaptiveMaxPool2d(out, return_indices=True)(x),
                                lambda x: torch.nn.AdaptiveMaxPool2d(out, return_indices=True)(x), x)
    values_and_grads_like_torch(lambda x: nn.AdaptiveMaxPool2d(out)(x[0]),
                                lambda x: torch.nn.AdaptiveMaxPool2d(out)(x[0]), x)


@pytest.mark.torch
def test_adaptive_1d_like_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 11))
    values_and_grads_like_torch(lambda x: nn.AdaptiveAvgPool1d(4)(x), lambda x: torch.nn.AdaptiveAvgPool1d(4)(x), x)
    values_and_grads_like_torch(lambda x: F.adaptive_max_pool1d(x, 4, True),
                                lambda x: torch.nn.functional.adaptive_max_pool1d(x, 4, True), x)


def test_adaptive_errors():
    x = _t(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match="output_size must be positive"):
        F.adaptive_avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="tuple of 2 ints"):
        F.adaptive_max_pool2d(x, (1, 2, 3))
    with pytest.raises(ValueError, match="3-D"):
        F.adaptive_avg_pool2d(_t(np.zeros((4, 4))), 2)


# ------------------------------------------------------------------------------------------------- nearest
def ref_nearest(x, out, scales):
    """Loop reference of PyTorch's nearest index rule (float32 ratio)."""
    lead, ins = x.shape[:2], x.shape[2:]
    idx = []
    for L, O, sc in zip(ins, out, scales):
        r = np.float32(1.0 / sc) if sc else np.float32(L) / np.float32(O)
        idx.append([o if O == L else (o >> 1 if O == 2 * L else min(int(np.floor(np.float32(o) * r)), L - 1))
                    for o in range(O)])
    y = np.zeros(lead + tuple(out))
    for pos in itertools.product(*(range(o) for o in out)):
        y[(...,) + pos] = x[(...,) + tuple(i[p] for i, p in zip(idx, pos))]
    return y


UPS = [((4, 5), None, 2), ((4, 5), None, (3, 2)), ((5, 7), (8, 11), None), ((6, 4), None, 1.5), ((3, 4), (2, 3), None),
       ((7,), None, 2.5), ((5,), 12, None)]


@pytest.mark.parametrize("hw,size,scale", UPS)
def test_interpolate_nearest(backend, rng, hw, size, scale):
    x = rng.standard_normal((2, 3) + hw)
    y = F.interpolate(_t(x), size=size, scale_factor=scale)
    if size is not None:
        out, sc = ((size,) * len(hw) if isinstance(size, int) else size), (None,) * len(hw)
    else:
        sc = (scale,) * len(hw) if np.isscalar(scale) else scale
        out = tuple(int(math.floor(L * s)) for L, s in zip(hw, sc))
    np.testing.assert_array_equal(to_numpy(y), ref_nearest(x, out, sc))
    xt = _t(rng.standard_normal((2, 2) + hw), True)
    assert gn.gradcheck(lambda x: F.interpolate(x, size=size, scale_factor=scale), [xt])


@pytest.mark.torch
@pytest.mark.parametrize("hw,size,scale", UPS)
def test_upsample_like_torch(rng, hw, size, scale):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3) + hw)
    values_and_grads_like_torch(lambda x: nn.Upsample(size, scale)(x), lambda x: torch.nn.Upsample(size, scale)(x), x)


def test_interpolate_errors():
    x = _t(np.zeros((1, 2, 4, 4)))
    with pytest.raises(NotImplementedError, match="Got 4D input, but linear mode needs 3D input"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(NotImplementedError, match="Got 3D input, but bilinear mode needs 4D input"):
        F.interpolate(x[0], scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="'trilinear'"):
        nn.Upsample(scale_factor=2, mode="trilinear")
    with pytest.raises(NotImplementedError, match="supported: 'nearest'"):
        nn.Upsample(scale_factor=2, mode="lanczos")
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        F.interpolate(x, scale_factor=2, mode="nearest", align_corners=True)
    with pytest.raises(NotImplementedError, match="antialias"):
        F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="3-D"):
        F.interpolate(_t(np.zeros((4, 4))), scale_factor=2)


# ------------------------------------------------------------------------------------------------- shape, dropout
def test_unflatten_and_flatten():
    x = _t(np.arange(24.0).reshape(2, 12), True)
    y = nn.Unflatten(1, (3, 2, 2))(x)
    assert y.shape == (2, 3, 2, 2)
    assert nn.Unflatten(-1, (-1, 4))(x).shape == (2, 3, 4)
    assert nn.Flatten()(y).shape == (2, 12) and nn.Flatten(0, 1)(y).shape == (6, 2, 2)
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), np.ones((2, 12)))
    with pytest.raises(ValueError, match="product must be 12"):
        nn.Unflatten(1, (5, 2))(x)


def test_dropout2d(backend):
    gn.manual_seed(0)
    x = _t(np.ones((8, 16, 3, 4)), True)
    m = nn.Dropout2d(0.5)
    y = m(x)
    yy = to_numpy(y)
    per_channel = yy.reshape(8, 16, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(axis=-1) == per_channel.max(axis=-1)).all()   # whole channels
    assert 0.2 < (per_channel[:, :, 0] == 0).mean() < 0.8
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), yy)
    m.eval()
    assert m(x) is x or np.array_equal(to_numpy(m(x)), to_numpy(x))
    z = F.dropout2d(_t(np.ones((4, 5, 6))), 0.5)
    zz = to_numpy(z)
    assert (zz.min(axis=-1) == zz.max(axis=-1)).all()
    assert np.array_equal(to_numpy(F.dropout2d(x, 1.0)), np.zeros(x.shape))
    with pytest.raises(ValueError, match="3-D"):
        F.dropout2d(_t(np.ones((4, 5))))


@pytest.mark.torch
def test_reprs_like_torch():
    torch = torch_or_skip()
    for name, args in [("MaxPool2d", (3, 2, 1)), ("MaxPool1d", (2,)), ("AvgPool2d", (2,)), ("AvgPool1d", (3, 2)),
                       ("AdaptiveAvgPool2d", ((2, None),)), ("AdaptiveMaxPool2d", (1,)), ("Dropout2d", (0.2,)),
                       ("Unflatten", (1, (2, 3))), ("BatchNorm2d", (4,))]:
        assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args)), name
    assert repr(nn.Upsample(scale_factor=2)) == repr(torch.nn.Upsample(scale_factor=2))
    assert repr(nn.Upsample(size=(3, 4))) == repr(torch.nn.Upsample(size=(3, 4)))
