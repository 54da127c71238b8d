"""F.unfold / F.fold and nn.Unfold / nn.Fold: against a NumPy loop from the definition, fold as unfold's adjoint,
gradcheck (and double backward) on every backend, PyTorch's values, gradients and reprs, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn

CASES = [((2, 3, 5, 6), dict(kernel_size=2)),
         ((2, 2, 7, 6), dict(kernel_size=(3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1))),
         ((3, 4, 4), dict(kernel_size=3, padding=1))]


def _ref_unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    def pair(v):
        return (v, v) if isinstance(v, int) else v
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = map(pair, (kernel_size, dilation, padding, stride))
    unb = x.ndim == 3
    x = x[None] if unb else x
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c * kh * kw, oh * ow))
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for a in range(oh):
                    for b in range(ow):
                        out[:, (ci * kh + i) * kw + j, a * ow + b] = xp[:, ci, a * sh + i * dh, b * sw + j * dw]
    return out[0] if unb else out


@pytest.mark.parametrize("shape,kw", CASES)
def test_reference_adjoint_and_gradcheck(backend, rng, shape, kw):
    dev = backend.device.split(":")[0]
    x = rng.standard_normal(shape)
    cols = F.unfold(gn.tensor(x, device=dev), **kw)
    ref = _ref_unfold(x, **kw)
    np.testing.assert_array_equal(to_numpy(cols), ref)
    c = rng.standard_normal(ref.shape)
    img = to_numpy(F.fold(gn.tensor(c, device=dev), shape[-2:], **kw))
    np.testing.assert_allclose((img * x).sum(), (c * ref).sum(), rtol=1e-12)  # <fold c, x> = <c, unfold x>
    xt = gn.tensor(x, device=dev, requires_grad=True)
    ct = gn.tensor(c, device=dev, requires_grad=True)
    assert gn.gradcheck(lambda t: nn.Unfold(**kw)(t) * 2.0, [xt])
    assert gn.gradcheck(lambda t: nn.Fold(shape[-2:], **kw)(t) * 2.0, [ct])

    def grad_of(t):
        y = F.unfold(t, **kw)
        g, = gn.autograd.grad((y * y * y).sum(), t, create_graph=True)
        return g
    assert gn.gradcheck(grad_of, [xt], atol=1e-5, rtol=1e-3)


def test_errors():
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        F.fold(gn.zeros(1, 5, 4), (3, 3), 2)
    with pytest.raises(RuntimeError, match="calculated number of sliding blocks"):
        F.fold(gn.zeros(1, 4, 5), (3, 3), 2)
    with pytest.raises(NotImplementedError, match="4-D"):
        F.unfold(gn.zeros(2, 3), 2)
    with pytest.raises(RuntimeError, match="does not fit"):
        F.unfold(gn.zeros(1, 1, 2, 2), 3)


@pytest.mark.torch
@pytest.mark.parametrize("shape,kw", CASES)
def test_matches_torch(rng, shape, kw):
    torch = torch_or_skip()
    x = rng.standard_normal(shape)
    tx, gx = torch.tensor(x, requires_grad=True), gn.tensor(x, requires_grad=True)
    tu, gu = torch.nn.functional.unfold(tx, **kw), F.unfold(gx, **kw)
    np.testing.assert_array_equal(to_numpy(gu), tu.detach().numpy())
    g = rng.standard_normal(tuple(tu.shape))
    tu.backward(torch.tensor(g))
    gu.backward(gn.tensor(g))
    np.testing.assert_allclose(to_numpy(gx.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    c = rng.standard_normal(tuple(tu.shape))
    np.testing.assert_allclose(to_numpy(F.fold(gn.tensor(c), shape[-2:], **kw)),
                               torch.nn.functional.fold(torch.tensor(c), shape[-2:], **kw).numpy(), rtol=1e-12,
                               atol=1e-12)
    assert repr(nn.Unfold(**kw)) == repr(torch.nn.Unfold(**kw))
    assert repr(nn.Fold(shape[-2:], **kw)) == repr(torch.nn.Fold(shape[-2:], **kw))
