"""In-place fills on the version counter: normal_, uniform_, exponential_, bernoulli_, masked_fill_, scatter_,
scatter_add_, index_add_, index_fill_ (values, versions, gradients as torch, errors)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from conftest import torch_or_skip


def test_random_fills_statistics_and_versions(backend):
    x = gn.zeros(200, 100)
    assert x.normal_(2.0, 0.5) is x and x._version == 1
    a = x.numpy()
    assert abs(a.mean() - 2.0) < 0.02 and abs(a.std() - 0.5) < 0.02
    x.uniform_(-3.0, 1.0)
    a = x.numpy()
    assert a.min() >= -3.0 and a.max() < 1.0 and abs(a.mean() + 1.0) < 0.03 and x._version == 2
    x.exponential_(4.0)
    a = x.numpy()
    assert a.min() >= 0 and abs(a.mean() - 0.25) < 0.01
    x.bernoulli_(0.3)
    a = x.numpy()
    assert set(np.unique(a)) <= {0.0, 1.0} and abs(a.mean() - 0.3) < 0.01
    assert x._version == 4


def test_random_fill_seeded_and_float_only():
    gn.manual_seed(5)
    a = gn.zeros(4).normal_().numpy().copy()
    gn.manual_seed(5)
    np.testing.assert_array_equal(gn.zeros(4).normal_().numpy(), a)
    with pytest.raises(RuntimeError, match="floating point"):
        gn.zeros(3, dtype=np.int64).normal_()


def test_random_fill_on_leaf_and_in_graph():
    w = gn.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.normal_()
    with gn.no_grad():
        w.normal_()  # initialisation, as torch
    x = gn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    h.uniform_()
    (h * 3 + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])  # no gradient through the overwritten values


def test_saved_then_filled_raises():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = h * h
    h.normal_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.torch
def test_masked_fill_scatter_index_like_torch():
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    s = rng.standard_normal((3, 4))
    mask = a > 0
    idx = np.array([[0, 1, 2, 0], [2, 2, 1, 0], [1, 0, 0, 2]])
    i1 = np.array([2, 0, 2])

    def run(lib, mk):
        x = mk(a, requires_grad=True)
        src = mk(s, requires_grad=True)
        h = x * 1
        h.masked_fill_(mk(mask), 0.5)
        h = h * 2
        h.scatter_(0, mk(idx), src)
        h = h * 1
        h.scatter_add_(1, mk(idx), src)
        h = h * 1
        h.index_add_(0, mk(i1), src, alpha=2.0)
        h = h * 1
        h.index_fill_(1, mk(np.array([1, 3])), -1.0)
        w = mk(rng_w)
        (h * w).sum().backward()
        return h, x.grad, src.grad

    rng_w = rng.standard_normal((3, 4))

    def mk_gn(v, requires_grad=False):
        v = np.asarray(v)
        return gn.tensor(v, dtype=np.float64 if v.dtype.kind == "f" else None, requires_grad=requires_grad)

    def mk_t(v, requires_grad=False):
        v = np.asarray(v)
        return torch.tensor(v, requires_grad=requires_grad)

    got, want = run("gn", mk_gn), run("t", mk_t)
    for g_, t_ in zip(got, want):
        np.testing.assert_allclose(g_.detach().numpy() if hasattr(g_, "detach") else g_.numpy(),
                                   t_.detach().numpy(), rtol=1e-12)


def test_inplace_versions_and_errors():
    x = gn.zeros(2, 3)
    x.masked_fill_(gn.tensor([[True, False, True], [False, False, True]]), 1.0)
    assert x._version == 1
    np.testing.assert_array_equal(x.numpy(), [[1, 0, 1], [0, 0, 1]])
    x.index_fill_(0, gn.tensor([1]), 7.0)
    np.testing.assert_array_equal(x.numpy()[1], [7, 7, 7])
    with pytest.raises(RuntimeError, match="mask"):
        x.masked_fill_(gn.tensor([True, False]), 1.0)
    with pytest.raises(RuntimeError, match="index must be 1-d"):
        x.index_add_(0, gn.tensor([0, 1]), gn.ones(3, 3))
    with pytest.raises(RuntimeError, match="shape"):
        gn.zeros(3).masked_fill_(gn.tensor([[True], [False]]), 1.0)  # the mask would grow the tensor
    y = gn.zeros(3)
    y.scatter_(0, gn.tensor([2, 0]), 5.0)
    np.testing.assert_array_equal(y.numpy(), [5, 0, 5])
    y.scatter_(0, gn.tensor([1]), gn.tensor([2.0]), reduce="add")
    np.testing.assert_array_equal(y.numpy(), [5, 2, 5])
