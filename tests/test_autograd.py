"""The autograd engine: graph walk, accumulation, broadcasting, buffer release, grad modes, retain/detach."""
from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest
from conftest import to_numpy

import gpunet as gn


def leaf(a, dtype=np.float64) -> gn.Tensor:
    return gn.tensor(np.asarray(a, dtype=dtype), requires_grad=True)


# ---------------------------------------------------------------------------------------------- graph walk
def test_long_chain_is_walked_iteratively(backend):
    limit = sys.getrecursionlimit()
    x = leaf([1.0, 2.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    assert sys.getrecursionlimit() == limit
    np.testing.assert_allclose(to_numpy(x.grad), [1.0001 ** 10_000] * 2, rtol=1e-9)


def test_long_chain_of_additions(backend):
    x = leaf(0.5)
    y = x
    for _ in range(10_000):
        y = y + x
    y.backward()
    assert to_numpy(x.grad) == 10_001


# ---------------------------------------------------------------------------------------------- accumulation
def test_tensor_used_twice_in_one_op(backend):
    x = leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [2.0, -4.0, 6.0])
    x.grad = None
    (x + x).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [2.0, 2.0, 2.0])


def test_diamond_graph(backend):
    xn = np.array([0.5, -1.5])
    x = leaf(xn)
    a = x * 2.0
    b = x * 3.0
    (a * b).sum().backward()                 # d(6x²)/dx = 12x
    np.testing.assert_allclose(to_numpy(x.grad), 12 * xn, rtol=1e-15)


def test_shared_intermediate_with_uneven_paths(backend):
    xn = np.array([0.3, 0.7, 1.1])
    x = leaf(xn)
    h = x.exp()
    y = (h * h + h.log() - h / 2.0).sum()   # e^{2x} + x − e^x/2
    y.backward()
    np.testing.assert_allclose(to_numpy(x.grad), 2 * np.exp(2 * xn) + 1 - np.exp(xn) / 2, rtol=1e-13)


def test_branch_without_a_path_to_the_root_gets_no_gradient(backend):
    x = leaf([1.0, 2.0])
    unused = x * 5.0        # noqa: F841  (recorded but not part of y)
    y = (x * 2.0).sum()
    y.backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [2.0, 2.0])


def test_only_leaves_that_require_grad_get_one(backend):
    a = leaf([1.0, 2.0])
    b = gn.tensor([3.0, 4.0], dtype=np.float64)
    (a * b).sum().backward()
    np.testing.assert_array_equal(to_numpy(a.grad), [3.0, 4.0])
    assert b.grad is None


# ---------------------------------------------------------------------------------------------- broadcasting
@pytest.mark.parametrize("sa,sb", [((3, 1), (4,)), ((2, 3), (3,)), ((), (2, 3)), ((2, 1, 4), (3, 1)),
                                   ((1, 1), (2, 3))])
def test_broadcasting_is_undone(backend, sa, sb):
    rng = np.random.default_rng(0)
    an, bn = rng.standard_normal(sa), rng.standard_normal(sb)
    a, b = leaf(an), leaf(bn)
    (a * b).sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    full = np.broadcast_shapes(sa, sb)
    ga = (np.broadcast_to(bn, full)).sum(axis=tuple(range(len(full) - len(sa))))
    ga = ga.sum(axis=tuple(i for i, s in enumerate(sa) if s == 1), keepdims=True).reshape(sa)
    np.testing.assert_allclose(to_numpy(a.grad), ga, rtol=1e-12)


# ---------------------------------------------------------------------------------------------- leaf grads
def test_leaf_grad_accumulates_across_backward_calls(backend):
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [6.0, 6.0])


def test_grads_of_two_leaves_never_alias(backend):
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.data += 10
    np.testing.assert_array_equal(to_numpy(b.grad), [1.0, 1.0])
    a2, b2 = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a2 - b2).sum().backward()
    b2.grad.data *= 7
    np.testing.assert_array_equal(to_numpy(a2.grad), [1.0, 1.0])


def test_leaf_grad_does_not_alias_the_upstream_gradient(backend):
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    g = gn.tensor([5.0, 6.0], dtype=np.float64)
    (a + b).backward(g)
    g.data[...] = 0
    a.grad.data += 1
    np.testing.assert_array_equal(to_numpy(a.grad), [6.0, 7.0])
    np.testing.assert_array_equal(to_numpy(b.grad), [5.0, 6.0])
    x = leaf([1.0, 2.0])
    gx = gn.tensor([1.0, 1.0], dtype=np.float64)
    x.backward(gx)                           # a leaf root
    gx.data[...] = 9
    np.testing.assert_array_equal(to_numpy(x.grad), [1.0, 1.0])


def test_second_backward_accumulates_into_first_grad_not_a_shared_buffer(backend):
    a, b = leaf([1.0]), leaf([2.0])
    (a + b).sum().backward()
    (a + b).sum().backward()
    a.grad.data += 100
    np.testing.assert_array_equal(to_numpy(b.grad), [2.0])


def test_grad_dtype_follows_the_leaf(backend):
    x = leaf([1.0, 2.0], dtype=np.float32)
    (x * 2.0).sum().backward()
    assert x.grad.dtype == np.float32
    y = leaf([1.0, 2.0], dtype=np.float64)
    (y.to(dtype=np.float32) * 2.0).sum().backward()
    assert y.grad.dtype == np.float64
    np.testing.assert_array_equal(to_numpy(y.grad), [2.0, 2.0])


# ---------------------------------------------------------------------------------------------- buffers
def test_graph_is_released_after_backward(backend):
    x = leaf([1.0, 2.0])
    y = (x * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward(backend):
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [4.0, 8.0])


def test_a_later_graph_over_a_retained_intermediate(backend):
    """Functions run in decreasing creation order: ops recorded after a first backward, on an intermediate of
    the retained graph, come after it in that order and before it in the second backward."""
    xn = np.array([0.5, 1.5])
    x = leaf(xn)
    h = x * x                                 # created first
    (h * 2.0).sum().backward(retain_graph=True)
    x.grad = None
    w = h.exp()                               # created after the first backward
    (w * h + h).sum().backward()              # d/dx (e^{x²}·x² + x²) = 2x(e^{x²}(1 + x²) + 1)
    np.testing.assert_allclose(to_numpy(x.grad), 2 * xn * (np.exp(xn ** 2) * (1 + xn ** 2) + 1), rtol=1e-13)


def test_backward_through_a_freed_part_of_the_graph_raises(backend):
    x = leaf([1.0, 2.0])
    h = x * 2.0
    h.sum().backward()
    with pytest.raises(RuntimeError, match="already freed"):
        (h * 3.0).sum().backward()


def test_saved_intermediates_are_freed_after_backward(backend):
    x = leaf(np.ones(4))
    h = x.exp()
    ref = weakref.ref(h)
    y = (h * h).sum()
    del h
    gc.collect()
    assert ref() is not None                 # the graph keeps it for backward
    y.backward()
    gc.collect()
    assert ref() is None                     # released with the graph
    assert y.grad_fn.released and y.grad_fn.parents == ()


# ---------------------------------------------------------------------------------------------- grad modes
def test_no_grad_records_nothing(backend):
    x = leaf([1.0, 2.0])
    with gn.no_grad():
        assert not gn.is_grad_enabled()
        y = x * 2.0 + 1.0
    assert gn.is_grad_enabled()
    assert y.requires_grad is False and y.grad_fn is None and y.is_leaf


def test_no_grad_as_decorator_and_restored_after_an_error(backend):
    x = leaf([1.0])

    @gn.no_grad()
    def f(t):
        return t * 2.0

    assert f(x).grad_fn is None
    with pytest.raises(ZeroDivisionError):
        with gn.no_grad():
            1 / 0
    assert gn.is_grad_enabled()


def test_enable_grad_inside_no_grad(backend):
    x = leaf([1.0, 2.0])
    with gn.no_grad():
        with gn.enable_grad():
            y = x * 3.0
        z = x * 3.0
        assert not gn.is_grad_enabled()
    assert y.requires_grad and y.grad_fn is not None
    assert z.grad_fn is None
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [3.0, 3.0])


def test_ops_on_tensors_without_grad_record_nothing(backend):
    y = gn.tensor([1.0, 2.0]) * 2.0
    assert y.grad_fn is None and not y.requires_grad


# ---------------------------------------------------------------------------------------------- non-leaves
def test_retain_grad_on_a_non_leaf(backend):
    x = leaf([1.0, 2.0])
    h = x * 3.0
    h.retain_grad()
    k = x * 4.0
    (h * h + k).sum().backward()
    np.testing.assert_array_equal(to_numpy(h.grad), 2 * to_numpy(h))
    assert k.grad is None                    # not retained
    np.testing.assert_array_equal(to_numpy(x.grad), 18 * np.array([1.0, 2.0]) + 4)


def test_non_leaf_flags(backend):
    x = leaf([1.0])
    h = x * 2.0
    assert x.is_leaf and not h.is_leaf
    assert h.grad_fn.next_functions == (None, None)
    with pytest.raises(RuntimeError, match="detach"):
        h.requires_grad_(False)


def test_requires_grad_on_an_int_tensor_raises():
    with pytest.raises(TypeError, match="floating point"):
        gn.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        gn.tensor([1, 2, 3]).requires_grad_()


def test_detach_cuts_the_graph(backend):
    x = leaf([1.0, 2.0])
    h = x * 2.0
    d = h.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert d.data is h.data                  # same storage, no copy
    (d * x).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [2.0, 4.0])   # no path through d


# ---------------------------------------------------------------------------------------------- bad calls
def test_backward_on_a_non_scalar_says_what_to_pass(backend):
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match=r"scalar output.*shape \(2,\).*sum\(\)\.backward\(\).*gn\.ones"):
        y.backward()


def test_backward_with_a_wrong_grad_shape(backend):
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(gn.ones(3))


def test_backward_on_a_tensor_without_grad(backend):
    with pytest.raises(RuntimeError, match="does not require grad"):
        gn.tensor([1.0]).backward()


def test_backward_accepts_an_array_gradient(backend):
    x = leaf([1.0, 2.0])
    (x * 2.0).backward(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(to_numpy(x.grad), [2.0, 6.0])
