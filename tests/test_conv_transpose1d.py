"""nn.ConvTranspose1d / F.conv_transpose1d: forward against a float64 NumPy scatter written from the definition,
gradcheck on every backend, PyTorch's state_dict and numbers, output_size, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn

CFGS = [dict(), dict(stride=2), dict(stride=3, padding=1, output_padding=2), dict(groups=2, dilation=2),
        dict(stride=2, padding=2)]


def _ref(x, w, b, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """y[n, g·Og + o, l·s + j·d − p] += x[n, g·Cg + c, l] · w[g·Cg + c, o, j]."""
    n, cin, L = x.shape
    _, og, k = w.shape
    out = (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    y = np.zeros((n, og * groups, out))
    cg = cin // groups
    for ci in range(cin):
        g = ci // cg
        for o in range(og):
            for j in range(k):
                for i in range(L):
                    t = i * stride + j * dilation - padding
                    if 0 <= t < out:
                        y[:, g * og + o, t] += x[:, ci, i] * w[ci, o, j]
    return y + (0 if b is None else b[None, :, None])


@pytest.mark.parametrize("cfg", CFGS)
def test_forward_reference_and_gradcheck(backend, rng, cfg):
    x = rng.standard_normal((2, 4, 5))
    w = rng.standard_normal((4, 3, 3))
    b = rng.standard_normal(3 * cfg.get("groups", 1))
    y = F.conv_transpose1d(gn.tensor(x), gn.tensor(w), gn.tensor(b), **cfg)
    np.testing.assert_allclose(to_numpy(y), _ref(x, w, b, **cfg), rtol=1e-12, atol=1e-12)
    args = [gn.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gn.gradcheck(lambda x, w, b: F.conv_transpose1d(x, w, b, **cfg), args, atol=1e-6, rtol=1e-4)


def test_module_output_size_unbatched_and_errors(rng):
    m = nn.ConvTranspose1d(2, 3, 3, stride=2)
    assert tuple(m.weight.shape) == (2, 3, 3)
    assert tuple(m(gn.zeros(1, 2, 5), output_size=[12]).shape) == (1, 3, 12)
    assert tuple(m(gn.zeros(2, 5)).shape) == (3, 11)
    with pytest.raises(ValueError, match="requested an output size of"):
        m(gn.zeros(1, 2, 5), output_size=[14])
    with pytest.raises(ValueError, match="expected a 2-D .* or 3-D"):
        m(gn.zeros(1, 1, 2, 5))
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose1d'):
        nn.ConvTranspose1d(2, 3, 3, padding_mode="reflect")


@pytest.mark.torch
@pytest.mark.parametrize("cfg", CFGS + [dict(bias=False)])
def test_matches_torch(rng, cfg):
    torch = torch_or_skip()
    tm = torch.nn.ConvTranspose1d(4, 6, 3, dtype=torch.float64, **cfg)
    gm = nn.ConvTranspose1d(4, 6, 3, dtype=np.float64, **cfg)
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert repr(gm) == repr(tm)
    x = rng.standard_normal((2, 4, 9))
    tx, gx = torch.tensor(x, requires_grad=True), gn.tensor(x, requires_grad=True)
    ty, gy = tm(tx), gm(gx)
    np.testing.assert_allclose(to_numpy(gy), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    gy.backward(gn.tensor(g))
    np.testing.assert_allclose(to_numpy(gx.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(to_numpy(getattr(gm, name).grad), p.grad.numpy(), rtol=1e-11, atol=1e-12)
