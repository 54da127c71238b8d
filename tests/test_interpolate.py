"""F.interpolate's separable modes ('linear', 'bilinear', 'bicubic', 'area', 'nearest-exact') and
nn.Upsample / nn.UpsamplingBilinear2d: forward against a float64 NumPy reference written from the formulas
(per output pixel, not through matrices), backward by gradcheck on every backend, and against PyTorch."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn


def _src(o, n_in, n_out, align, scale, cubic):
    if align:
        return o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    r = 1.0 / scale if scale else n_in / n_out
    s = (o + 0.5) * r - 0.5
    return s if cubic else max(s, 0.0)


def _cubic(t, A=-0.75):
    t = abs(t)
    if t <= 1:
        return ((A + 2) * t - (A + 3)) * t * t + 1
    if t < 2:
        return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A
    return 0.0


def _taps(o, n_in, n_out, mode, align, scale):
    """[(input index, weight)] of output index ``o`` along one axis."""
    if n_in == n_out and mode != "area":
        return [(o, 1.0)]
    if mode == "area":
        a, b = (o * n_in) // n_out, -(-((o + 1) * n_in) // n_out)
        return [(i, 1.0 / (b - a)) for i in range(a, b)]
    if mode == "nearest-exact":
        r = 1.0 / scale if scale else n_in / n_out
        return [(min(int(math.floor((o + 0.5) * r)), n_in - 1), 1.0)]
    s = _src(o, n_in, n_out, align, scale, mode == "cubic")
    i0 = min(int(math.floor(s)), n_in - 1)
    t = min(max(s - i0, 0.0), 1.0)
    if mode == "linear":
        return [(i0, 1 - t), (min(i0 + 1, n_in - 1), t)]
    return [(min(max(i0 - 1 + k, 0), n_in - 1), _cubic(t + 1 - k)) for k in range(4)]


def _reference(x, out, mode, align, scales):
    """Pixel by pixel from the taps, float64."""
    kind = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    one_d = x.ndim == 3
    if one_d:
        x = x[:, :, None, :]
        out, scales = (1,) + tuple(out), (None,) + tuple(scales)
    y = np.zeros(x.shape[:2] + tuple(out))
    H, W = x.shape[2:]
    for p in range(out[0]):
        for q in range(out[1]):
            for i, wi in _taps(p, H, out[0], kind, align, scales[0]):
                for j, wj in _taps(q, W, out[1], kind, align, scales[1]):
                    y[:, :, p, q] += wi * wj * x[:, :, i, j]
    return y[:, :, 0] if one_d else y


CASES = [("bilinear", False, dict(scale_factor=2)), ("bilinear", True, dict(size=(5, 7))),
         ("bilinear", False, dict(scale_factor=(0.5, 1.5))), ("bicubic", False, dict(scale_factor=2)),
         ("bicubic", True, dict(size=(3, 9))), ("area", None, dict(size=(2, 3))),
         ("area", None, dict(scale_factor=0.5)), ("nearest-exact", None, dict(scale_factor=1.5)),
         ("linear", False, dict(scale_factor=2.5)), ("linear", True, dict(size=4)), ("area", None, dict(size=3))]


@pytest.mark.parametrize("mode,align,kw", CASES)
def test_forward_reference_and_gradcheck(backend, rng, mode, align, kw):
    shape = (2, 2, 5) if mode == "linear" or kw.get("size") == 3 else (2, 2, 4, 6)
    x = rng.standard_normal(shape)
    y = F.interpolate(gn.tensor(x), mode=mode, align_corners=align, **kw)
    sf = kw.get("scale_factor")
    spatial = len(shape) - 2
    scales = (sf,) * spatial if isinstance(sf, (int, float)) else (tuple(sf) if sf else (None,) * spatial)
    out = tuple(y.shape[2:])
    np.testing.assert_allclose(to_numpy(y), _reference(x, out, mode, bool(align), scales), rtol=1e-12, atol=1e-12)
    xt = gn.tensor(x, requires_grad=True)
    assert gn.gradcheck(lambda t: F.interpolate(t, mode=mode, align_corners=align, **kw), [xt], atol=1e-7)


def test_float32_and_modules(backend, rng):
    x = gn.tensor(rng.standard_normal((1, 3, 4, 4)).astype(np.float32))
    y = nn.Upsample(scale_factor=2, mode="bilinear")(x)
    assert y.dtype == gn.float32 and tuple(y.shape) == (1, 3, 8, 8)
    z = nn.UpsamplingBilinear2d(scale_factor=2)(x)
    np.testing.assert_allclose(to_numpy(z), to_numpy(F.interpolate(x, scale_factor=2, mode="bilinear",
                                                                   align_corners=True)), rtol=0, atol=0)
    # a constant image stays constant under every separable mode (the weights of each row sum to 1)
    c = gn.tensor(np.full((1, 1, 5, 3), 2.5, np.float32))
    for mode in ("bilinear", "bicubic", "area", "nearest-exact"):
        np.testing.assert_allclose(to_numpy(F.interpolate(c, size=(7, 4), mode=mode)), 2.5, rtol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("mode,align,kw", CASES + [("bicubic", False, dict(scale_factor=0.6)),
                                                   ("bilinear", False, dict(scale_factor=1.5,
                                                                            recompute_scale_factor=True))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch(rng, mode, align, kw, dtype):
    torch = torch_or_skip()
    shape = (2, 3, 7) if mode == "linear" or kw.get("size") == 3 else (2, 3, 6, 5)
    x = rng.standard_normal(shape).astype(dtype)
    tx, gx = torch.tensor(x, requires_grad=True), gn.tensor(x, requires_grad=True)
    ty = torch.nn.functional.interpolate(tx, mode=mode, align_corners=align, **kw)
    gy = F.interpolate(gx, mode=mode, align_corners=align, **kw)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(to_numpy(gy), ty.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(g))
    gy.backward(gn.tensor(g))
    np.testing.assert_allclose(to_numpy(gx.grad), tx.grad.numpy(), rtol=tol, atol=tol)
    assert repr(nn.Upsample(scale_factor=2, mode="bilinear")) == repr(torch.nn.Upsample(scale_factor=2,
                                                                                        mode="bilinear"))
