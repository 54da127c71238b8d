"""F.pixel_shuffle / F.pixel_unshuffle and the modules: against a NumPy loop from the definition, inverses of
each other, gradcheck on every backend, PyTorch's values, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn


def _ref(x, r):
    *lead, c, h, w = x.shape
    y = np.zeros(tuple(lead) + (c // (r * r), h * r, w * r))
    for ch in range(c):
        co, i, j = ch // (r * r), (ch % (r * r)) // r, ch % r
        y[..., co, i::r, j::r] = x[..., ch, :, :]
    return y


@pytest.mark.parametrize("shape,r", [((2, 8, 3, 4), 2), ((9, 2, 2), 3), ((2, 2, 4, 1, 3), 2), ((2, 3, 4, 5), 1)])
def test_reference_inverse_and_gradcheck(backend, rng, shape, r):
    x = rng.standard_normal(shape)
    y = F.pixel_shuffle(gn.tensor(x), r)
    np.testing.assert_array_equal(to_numpy(y), _ref(x, r))
    np.testing.assert_array_equal(to_numpy(nn.PixelUnshuffle(r)(y)), x)
    xt = gn.tensor(x, requires_grad=True)
    assert gn.gradcheck(lambda t: nn.PixelShuffle(r)(t) * 1.5, [xt])
    assert gn.gradcheck(lambda t: F.pixel_unshuffle(t, r), [gn.tensor(_ref(x, r), requires_grad=True)])


def test_errors():
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        F.pixel_shuffle(gn.zeros(1, 6, 2, 2), 2)
    with pytest.raises(RuntimeError, match="at least 3 dimensions"):
        F.pixel_shuffle(gn.zeros(4, 4), 2)
    with pytest.raises(RuntimeError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(gn.zeros(1, 1, 5, 4), 2)


@pytest.mark.torch
def test_matches_torch(rng):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 18, 3, 4))
    np.testing.assert_array_equal(to_numpy(F.pixel_shuffle(gn.tensor(x), 3)),
                                  torch.nn.functional.pixel_shuffle(torch.tensor(x), 3).numpy())
    np.testing.assert_array_equal(to_numpy(F.pixel_unshuffle(gn.tensor(x), 1)), x)
    z = rng.standard_normal((2, 3, 6, 4))
    np.testing.assert_array_equal(to_numpy(F.pixel_unshuffle(gn.tensor(z), 2)),
                                  torch.nn.functional.pixel_unshuffle(torch.tensor(z), 2).numpy())
    assert repr(nn.PixelShuffle(3)) == repr(torch.nn.PixelShuffle(3))
