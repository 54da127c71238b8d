"""F.max_unpool1d/2d and nn.MaxUnpool1d/2d: the values back at MaxPool's indices (zeros elsewhere), gradients by
gradcheck on every backend, PyTorch's values, gradients, output_size rule and repr, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn


@pytest.mark.parametrize("k,s,p,shape,osz", [(2, 2, 0, (2, 3, 6, 8), None), (3, 2, 1, (1, 2, 7, 7), None),
                                             (2, 2, 0, (2, 3, 7, 9), (7, 9)), (3, 3, 0, (3, 6, 6), None)])
def test_unpool_puts_maxima_back(backend, rng, k, s, p, shape, osz):
    x = rng.standard_normal(shape)
    y, idx = nn.MaxPool2d(k, s, p, return_indices=True)(gn.tensor(x))
    u = nn.MaxUnpool2d(k, s, p)(y, idx, output_size=osz)
    un, yn, ix = to_numpy(u), to_numpy(y), to_numpy(idx).astype(np.int64)
    lead = yn.shape[:-2]
    ref = np.zeros(lead + (un.shape[-2] * un.shape[-1],))
    np.put_along_axis(ref, ix.reshape(lead + (-1,)), yn.reshape(lead + (-1,)), axis=-1)
    np.testing.assert_array_equal(un, ref.reshape(un.shape))
    flat = ix.reshape(lead + (-1,))
    if all(len(np.unique(r)) == r.size for r in flat.reshape(-1, flat.shape[-1])):
        # (overlapping windows can pick one input twice: the forward keeps one write, and the gradient goes to
        # every copy, as PyTorch's; no finite difference agrees with that)
        yt = gn.tensor(yn, requires_grad=True)
        assert gn.gradcheck(lambda t: F.max_unpool2d(t, idx, k, s, p, osz) * 2.0, [yt])


def test_1d_and_errors(rng):
    x = gn.tensor(rng.standard_normal((2, 3, 10)))
    y, i = nn.MaxPool1d(2, return_indices=True)(x)
    u = nn.MaxUnpool1d(2)(y, i)
    assert tuple(u.shape) == (2, 3, 10) and np.count_nonzero(to_numpy(u)) == 30
    with pytest.raises(ValueError, match="indices must have the input's shape"):
        F.max_unpool1d(y, i[:, :, :3], 2)
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool1d(y, i, 2, output_size=(13,))
    with pytest.raises(TypeError, match="indices must be integers"):
        F.max_unpool1d(y, y, 2)
    with pytest.raises(IndexError, match="out of bounds"):
        F.max_unpool1d(y, i + 100, 2)


@pytest.mark.torch
def test_matches_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 7, 9))
    ty, ti = torch.nn.MaxPool2d(3, 2, 1, return_indices=True)(torch.tensor(x))
    gy, gi = nn.MaxPool2d(3, 2, 1, return_indices=True)(gn.tensor(x))
    ty = ty.detach().requires_grad_()
    gy = gn.tensor(to_numpy(gy), requires_grad=True)
    tu = torch.nn.MaxUnpool2d(3, 2, 1)(ty, ti, output_size=(7, 9))
    gu = nn.MaxUnpool2d(3, 2, 1)(gy, gi, output_size=(7, 9))
    np.testing.assert_array_equal(to_numpy(gu), tu.detach().numpy())
    g = rng.standard_normal(tuple(tu.shape))
    tu.backward(torch.tensor(g))
    gu.backward(gn.tensor(g))
    np.testing.assert_array_equal(to_numpy(gy.grad), ty.grad.numpy())
    assert repr(nn.MaxUnpool2d(2)) == repr(torch.nn.MaxUnpool2d(2))
    assert repr(nn.MaxUnpool1d(3, 2)) == repr(torch.nn.MaxUnpool1d(3, 2))
