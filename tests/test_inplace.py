"""In-place writes and autograd: version counters, recorded writes, and the errors that replace wrong gradients.

Each case is a PyTorch habit that gave a silently wrong gradient before the version counter (or an error where
PyTorch works); where PyTorch supports the pattern, the gradient is compared against it in float64.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip

import gpunet as gn
from gpunet import nn

MODIFIED = "modified by an inplace operation"


def leaf(a) -> gn.Tensor:
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def grads_like_torch(fn, *arrays):
    """Run ``fn(lib, *leaves)`` with gpunet and with torch (float64) and compare the leaves' gradients."""
    torch = torch_or_skip()
    mine = [leaf(a) for a in arrays]
    fn(gn, *mine).backward()
    theirs = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    fn(torch, *theirs).backward()
    for m, t in zip(mine, theirs):
        expect = None if t.grad is None else t.grad.numpy()
        got = None if m.grad is None else to_numpy(m.grad)
        if expect is None:
            assert got is None or not got.any()
        else:
            np.testing.assert_allclose(got, expect, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------------------------- recorded writes
def test_setitem_into_a_graph_tensor_is_recorded(backend):
    x = leaf([1.0, 2.0, 3.0])
    h = x * 2
    h[0] = 5
    h.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 2.0, 2.0])  # was [2, 2, 2]
    assert type(h.grad_fn).__name__ == "SetItem"


def _setitem_patterns(lib, x, v):
    h = x * 3
    h[1:3] = v * v            # a slice from a value that requires grad
    h[h > 4] = 0              # a boolean mask (computed from h itself)
    h[[0, 0]] = 2.0           # advanced index, repeated
    return (h * x).sum()


@pytest.mark.torch
def test_setitem_patterns_match_torch(backend):
    rng = np.random.default_rng(0)
    grads_like_torch(_setitem_patterns, rng.uniform(-1, 2, 6), rng.uniform(-2, 2, 2))


def _into_a_buffer(lib, x, w):
    out = lib.zeros(3, 2, dtype=lib.float64)
    for i in range(3):
        out[i] = x[i] * w     # a leaf that needs no grad becomes part of the graph
    return (out ** 2).sum()


@pytest.mark.torch
def test_writing_rows_into_a_zero_buffer_matches_torch(backend):
    rng = np.random.default_rng(1)
    grads_like_torch(_into_a_buffer, rng.standard_normal((3, 2)), rng.standard_normal(2))


def _arith_inplace(lib, x, y):
    h = x.exp() * 1.0
    h += y
    h.mul_(y)
    h.sub_(x, alpha=2)
    h /= 3
    h.clamp_(min=-1.0, max=4.0)
    h.add_(y * 0.5)
    return h.sum()


@pytest.mark.torch
def test_inplace_arithmetic_matches_torch(backend):
    rng = np.random.default_rng(2)
    grads_like_torch(_arith_inplace, rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (2, 3)))


def _fill_copy(lib, x, s):
    h = x * 1.0
    g = lib.zeros(2, 3, dtype=lib.float64)
    g.copy_(x[0] * s)         # differentiable in the source, broadcast from (3,) to (2, 3)
    k = lib.zeros(2, 3, dtype=lib.float64)
    k.fill_(s)                # a 0-d tensor that requires grad: its gradient is the sum
    return (h * g + k).sum()


@pytest.mark.torch
def test_fill_and_copy_are_differentiable_like_torch(backend):
    rng = np.random.default_rng(3)
    grads_like_torch(_fill_copy, rng.standard_normal((2, 3)), np.float64(1.5))


def test_zero_and_fill_on_a_graph_tensor_cut_the_gradient(backend):
    x = leaf([1.0, 2.0])
    h = x * 2
    h.zero_()
    (h + x).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [1.0, 1.0])


def test_using_a_tensor_before_an_unrelated_write_stays_valid(backend):
    """``y = h * 3`` saves only the scalar, so writing h afterwards is fine (as in PyTorch)."""
    x = leaf([1.0, 2.0])
    h = x * 2
    y = h * 3
    h[0] = 7
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [6.0, 6.0])


def test_mul_inplace_by_a_tensor_that_requires_grad_uses_the_old_values(backend):
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    h = x + 0
    h.mul_(w)
    h.sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), [1.0, 2.0])  # the values of h before the write
    np.testing.assert_array_equal(to_numpy(x.grad), [3.0, 4.0])


# ---------------------------------------------------------------------------------------------- saved tensors
def test_writing_a_saved_output_raises_in_backward(backend):
    x = leaf([1.0, 2.0, 3.0])
    h = x.exp()               # exp saves its output
    h[0] = 5
    with pytest.raises(RuntimeError, match=MODIFIED):
        h.sum().backward()    # was: a wrong gradient, silently


def test_writing_a_saved_input_raises_in_backward(backend):
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    h = x * 1.0
    y = h * w                 # saves h for w's gradient
    h += 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()


def test_writing_through_a_view_of_a_saved_tensor_raises(backend):
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    h = x.sigmoid() * 1.0
    w = leaf([[1.0, 1.0], [1.0, 1.0]])
    y = (h * w).sum()
    with gn.no_grad():
        h.reshape(4)[0] = 9.0  # a view shares the version counter
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_writing_through_detach_raises_for_saved_tensors(backend):
    x = leaf([1.0, 2.0])
    h = x.exp()
    h.detach()[1] = 0.0      # allowed (detach needs no grad) but it bumps h's version
    with pytest.raises(RuntimeError, match=MODIFIED):
        h.sum().backward()


def test_versions_count_writes_and_views_share_them(backend):
    t = gn.zeros(2, 3)
    assert t._version == 0
    t[0, 0] = 1.0
    t.add_(1.0)
    assert t._version == 2
    v = t.reshape(6)
    v[0] = 3.0
    assert t._version == v._version == 3
    assert t.detach()._version == 3
    c = t.clone()
    assert c._version == 0


# ---------------------------------------------------------------------------------------------- leaves and views
def test_inplace_on_a_leaf_that_requires_grad_raises_outside_no_grad(backend):
    w = leaf([1.0, 2.0])
    for write in (lambda: w.__setitem__(0, 1.0), lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.mul_(2)):
        with pytest.raises(RuntimeError, match="leaf"):
            write()
    with pytest.raises(RuntimeError, match="leaf"):
        w[0:1][0] = 5.0        # through a view of the leaf
    np.testing.assert_array_equal(to_numpy(w), [1.0, 2.0])
    with gn.no_grad():
        w[0] = 5.0
        w.mul_(2)
    np.testing.assert_array_equal(to_numpy(w), [10.0, 4.0])
    assert w.is_leaf and w.grad_fn is None


def test_manual_sgd_with_augmented_assignment_updates_the_parameters(backend):
    """``p -= lr * p.grad`` under no_grad writes into the parameter, as in PyTorch (it used to rebind the loop
    variable and leave the model unchanged)."""
    gn.manual_seed(0)
    model = nn.Linear(3, 1)
    before = [to_numpy(p).copy() for p in model.parameters()]
    x = gn.ones(4, 3)
    model(x).sum().backward()
    with gn.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    for b, p in zip(before, model.parameters()):
        np.testing.assert_allclose(to_numpy(p), b - 0.1 * to_numpy(p.grad), rtol=1e-6)


def test_write_through_a_view_makes_the_base_stale(backend):
    x = leaf([1.0, 2.0, 3.0])
    h = x * 2
    v = h.reshape(3)
    v[0] = 5.0
    with pytest.raises(RuntimeError, match="does not rebase views"):
        h.sum()                # h's graph does not know about the write: refuse rather than be wrong
    v.sum().backward()         # the tensor written into is right
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 2.0, 2.0])


def test_views_made_before_a_write_to_the_base_are_stale(backend):
    x = leaf([1.0, 2.0, 3.0])
    h = x * 2
    v = h[:2]
    h[0] = 5.0
    with pytest.raises(RuntimeError, match="does not rebase views"):
        (v * 1).sum()
    with gn.no_grad():
        np.testing.assert_array_equal(to_numpy(v * 1), [5.0, 4.0])  # no graph: values are fine to read


def test_inplace_errors_on_dtype_and_shape(backend):
    i = gn.tensor(np.array([1, 2], dtype=np.int64))
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(0.5)
    i.add_(1)
    np.testing.assert_array_equal(to_numpy(i), [2, 3])
    t = gn.zeros(3)
    with pytest.raises(RuntimeError, match="shape"):
        t.add_(gn.ones(2, 3))
    np.testing.assert_array_equal(to_numpy(t), [0, 0, 0])   # nothing written


def test_retain_grad_follows_the_tensor_through_a_write(backend):
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    h[0] = 0.0
    (h * 3).sum().backward()
    np.testing.assert_array_equal(to_numpy(h.grad), [3.0, 3.0])
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 6.0])


def test_no_write_means_no_check_and_no_counter(backend):
    """The common path stays as it was: no version counter is made without an in-place write or a view."""
    x = leaf([1.0, 2.0])
    y = (x * 2).exp().sum()
    assert y._vc is None and x._vc is None
    y.backward()


def test_reinitialising_or_loading_weights_after_forward_makes_backward_raise(backend):
    """init.*_ and load_state_dict write parameters in place, so they count, as in PyTorch."""
    layer = nn.Linear(3, 2)
    x = gn.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    y = layer(x).sum()
    gn.init.normal_(layer.weight)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()
    y = layer(x).sum()
    layer.load_state_dict({k: np.asarray(v) * 2 for k, v in layer.state_dict().items()})
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()
    layer(x).sum().backward()    # a fresh forward is fine
    assert x.grad is not None
