"""F.dropout and nn.Dropout."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy

import gpunet as gn
import gpunet.nn as nn
from gpunet.functional.dropout import dropout


def test_inverted_scaling_and_rate(backend):
    x = gn.ones(200, 100)
    y = to_numpy(dropout(x, p=0.3, training=True))
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # expectation preserved


def test_backward_reuses_the_mask(backend, rng):
    x = gn.tensor(rng.standard_normal((30, 20)) + 5, dtype=np.float64, requires_grad=True)
    y = dropout(x, p=0.5)
    y.backward(gn.ones(30, 20, dtype=np.float64))
    ratio = to_numpy(y) / to_numpy(x)
    np.testing.assert_allclose(to_numpy(x.grad), ratio, rtol=1e-12)
    assert set(np.unique(ratio).round(12)) == {0.0, 2.0}


def test_gradcheck_with_fixed_mask(backend, rng):
    x = gn.tensor(rng.standard_normal((5, 4)), dtype=np.float64, requires_grad=True)

    def f(x):
        gn.manual_seed(3)  # the same mask on every call
        return dropout(x, p=0.4)

    assert gn.gradcheck(f, [x])


def test_seeded_masks_repeat(backend):
    gn.manual_seed(11)
    a = to_numpy(dropout(gn.ones(8, 8), 0.5))
    b = to_numpy(dropout(gn.ones(8, 8), 0.5))
    gn.manual_seed(11)
    c = to_numpy(dropout(gn.ones(8, 8), 0.5))
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_edge_cases(backend):
    x = gn.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    assert dropout(x, 0.0) is x and dropout(x, 0.7, training=False) is x
    y = dropout(x, 1.0)
    assert not to_numpy(y).any()
    y.sum().backward()
    assert not to_numpy(x.grad).any() and np.isfinite(to_numpy(x.grad)).all()
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            dropout(x, p)
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(p)


def test_module_train_and_eval(backend):
    d = nn.Dropout(0.5)
    x = gn.ones(50, 50)
    assert (to_numpy(d(x)) == 0).any()
    d.eval()
    assert d(x) is x
    assert repr(d) == "Dropout(p=0.5, inplace=False)"


def test_matches_torch_semantics():
    torch = pytest.importorskip("torch")
    assert repr(nn.Dropout(0.25)) == repr(torch.nn.Dropout(0.25))
    t = torch.nn.functional.dropout(torch.ones(3), p=1.0)
    assert not t.any() and not to_numpy(dropout(gn.ones(3), p=1.0)).any()
