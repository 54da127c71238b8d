"""When the backward engine copies a gradient before it becomes a leaf's ``.grad``: only when the memory is not
the engine's alone (the upstream gradient or a view of it, the caller's gradient argument, memory another leaf
holds, a broadcast or a slice), never for a fresh array or a reshape/transpose of one. Every test checks values
too: an aliasing bug shows as a wrong gradient after an in-place accumulation."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from gpunet import Function
from gpunet.autograd import hooks as _hooks

from conftest import to_numpy


def leaf(a):
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def _shares(a, b) -> bool:
    return np.shares_memory(np.asarray(a), np.asarray(b))


class ScaleViaView(Function):
    """y = 3x; backward returns ``(3g).reshape(-1).reshape(shape)``: a view covering a fresh array, kept in
    ``LAST`` so the test can see whether the engine copied it."""

    LAST: list = []

    def forward(self, xp, x):
        self.shape = x.shape
        return 3 * x

    def backward(self, xp, g):
        fresh = (3 * g).reshape(-1)
        ScaleViaView.LAST.append(fresh)
        return (fresh.reshape(self.shape),)


class TwoSlicesOfOne(Function):
    """y = a + 2b (same shapes); backward slices ONE fresh (2, ...) array into both gradients."""

    def forward(self, xp, a, b):
        return a + 2 * b

    def backward(self, xp, g):
        both = xp.stack([g, 2 * g])
        return both[0], both[1]


class MeanByBroadcast(Function):
    """y = mean(x); backward returns a broadcast (read-only, zero-stride) view of a fresh 0-d array."""

    def forward(self, xp, x):
        self.shape = x.shape
        return x.mean()

    def backward(self, xp, g):
        return (xp.broadcast_to(g / np.prod(self.shape), self.shape),)


@pytest.fixture(params=[False, True], ids=["plain", "general"])
def general(request):
    """Run each test through the plain loop and through the general one (a hook registered somewhere)."""
    if not request.param:
        yield False
        return
    dummy = leaf([1.0])
    h = dummy.register_hook(lambda g: None)
    assert _hooks.HOOKS
    yield True
    h.remove()


def test_a_reshape_of_a_fresh_array_is_adopted_without_a_copy(general):
    ScaleViaView.LAST.clear()
    x = leaf(np.arange(6.0).reshape(2, 3))
    ScaleViaView.apply(x).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), np.full((2, 3), 3.0))
    assert _shares(x.grad.data, ScaleViaView.LAST[-1])  # no copy
    x.grad.data += 1  # it is writable and owned by x alone
    np.testing.assert_array_equal(to_numpy(x.grad), np.full((2, 3), 4.0))


def test_a_view_of_the_callers_gradient_is_copied(general):
    x = leaf(np.zeros((2, 3)))
    G = np.arange(6.0).reshape(3, 2)
    x.reshape(3, 2).backward(G)  # reshape's backward: a view of G
    assert not _shares(x.grad.data, G)
    G += 100  # the caller's array changes later: x.grad does not
    np.testing.assert_array_equal(to_numpy(x.grad), np.arange(6.0).reshape(2, 3))
    x.transpose(1, 0).backward(np.ones((3, 2)))  # accumulates in place: G untouched
    np.testing.assert_array_equal(G, np.arange(6.0).reshape(3, 2) + 100)


def test_the_callers_gradient_of_a_leaf_root_is_copied(general):
    x = leaf(np.zeros(3))
    G = np.ones(3)
    x.backward(G)
    assert not _shares(x.grad.data, G)
    x.backward(G)
    np.testing.assert_array_equal(G, np.ones(3))
    np.testing.assert_array_equal(to_numpy(x.grad), np.full(3, 2.0))


def test_two_view_consumers_of_one_leaf_accumulate_correctly(general, rng):
    a = leaf(rng.standard_normal((2, 3)))
    G = rng.standard_normal(6)
    s = a.reshape(6) + a.transpose(1, 0).reshape(6)  # Add hands the same g_out to both views' backwards
    s.backward(G.copy())
    want = G.reshape(2, 3) + G.reshape(3, 2).T
    np.testing.assert_allclose(to_numpy(a.grad), want, rtol=1e-15)


def test_add_gives_two_leaves_separate_gradients(general):
    a, b = leaf(np.zeros((2, 2))), leaf(np.zeros((2, 2)))
    (a.reshape(4) + b.reshape(4)).sum().backward()
    assert not _shares(a.grad.data, b.grad.data)
    a.grad.data += 1
    np.testing.assert_array_equal(to_numpy(b.grad), np.ones((2, 2)))


def test_slices_of_one_fresh_array_are_copied(general):
    a, b = leaf(np.zeros(3)), leaf(np.zeros(3))
    y = TwoSlicesOfOne.apply(a, b)
    y.backward(np.ones(3), retain_graph=True)
    assert not _shares(a.grad.data, b.grad.data)
    y.backward(np.ones(3))  # in-place accumulation into each
    np.testing.assert_array_equal(to_numpy(a.grad), np.full(3, 2.0))
    np.testing.assert_array_equal(to_numpy(b.grad), np.full(3, 4.0))


def test_a_broadcast_view_is_copied_and_accumulates(general):
    x = leaf(np.zeros((2, 3)))
    y = MeanByBroadcast.apply(x)
    y.backward(retain_graph=True)
    assert x.grad.data.flags.writeable and x.grad.data.strides != (0, 0)
    y.backward()
    np.testing.assert_allclose(to_numpy(x.grad), np.full((2, 3), 2 / 6))


def test_retain_graph_backward_twice_accumulates_into_an_adopted_gradient(general, rng):
    ScaleViaView.LAST.clear()
    x = leaf(rng.standard_normal((2, 3)))
    w = leaf(rng.standard_normal((2, 3)))
    loss = (ScaleViaView.apply(x) * w).sum() + (x * x).sum()
    loss.backward(retain_graph=True)
    first = to_numpy(x.grad).copy()
    loss.backward()
    np.testing.assert_allclose(to_numpy(x.grad), 2 * first, rtol=1e-15)
    np.testing.assert_allclose(first, 3 * to_numpy(w) + 2 * to_numpy(x), rtol=1e-15)
    np.testing.assert_allclose(to_numpy(w.grad), 2 * 3 * to_numpy(x), rtol=1e-15)


def test_a_gradient_a_hook_keeps_is_not_changed_by_later_accumulation():
    x = leaf(np.zeros((2, 3)))
    y = x.reshape(6)
    kept = []
    y.register_hook(lambda g: kept.append(g) or None)
    z = (y * 2).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_array_equal(to_numpy(kept[0]), np.full(6, 2.0))  # x.grad (a view of it?) grew to 4
    np.testing.assert_array_equal(to_numpy(x.grad), np.full((2, 3), 4.0))


def test_a_hook_that_replaces_the_gradient(rng):
    x = leaf(rng.standard_normal((2, 3)))
    y = x.reshape(3, 2)
    repl = gn.tensor(np.ones((3, 2)))
    y.register_hook(lambda g: repl)
    x.register_hook(lambda g: g * 10)
    (y * 5).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), np.full((2, 3), 10.0))
    np.testing.assert_array_equal(to_numpy(repl), np.ones((3, 2)))  # the hook's tensor untouched
    assert not _shares(x.grad.data, repl.data)


def test_a_post_accumulate_hook_writing_grad_in_place_touches_only_its_leaf():
    ScaleViaView.LAST.clear()
    a, b = leaf(np.zeros(4)), leaf(np.zeros(4))

    def zero(p):
        p.grad.data[...] = 0
    _hooks.register_post_accumulate(a, zero)
    s = ScaleViaView.apply(a) + b.reshape(4)
    s.backward(np.ones(4))
    np.testing.assert_array_equal(to_numpy(a.grad), np.zeros(4))
    np.testing.assert_array_equal(to_numpy(b.grad), np.ones(4))


def test_sum_to_of_a_broadcast_gradient_is_adopted(general, rng):
    a = leaf(rng.standard_normal((3, 1)))
    b = leaf(rng.standard_normal((3, 4)))
    (a * b).sum().backward()
    np.testing.assert_allclose(to_numpy(a.grad), to_numpy(b).sum(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(to_numpy(b.grad), np.broadcast_to(to_numpy(a), (3, 4)), rtol=1e-14)


def test_inputs_restricted_backward_copies_the_callers_gradient():
    x = leaf(np.zeros((2, 2)))
    G = np.ones((2, 2))
    x.transpose(1, 0).backward(G, inputs=[x])
    assert not _shares(x.grad.data, G)


class SameFreshForBoth(Function):
    """y = 2a + 2b; backward returns ONE fresh array for both inputs (the second as a reshape of it), which
    the contract forbids but a hand-written backward does: each leaf still gets its own ``.grad``."""

    def forward(self, xp, a, b):
        return 2 * a + 2 * b

    def backward(self, xp, g):
        d = 2 * g
        return d, d.reshape(-1).reshape(d.shape)


def test_one_fresh_array_for_two_leaves_is_copied_for_the_second(general):
    a, b = leaf(np.zeros(3)), leaf(np.zeros(3))
    SameFreshForBoth.apply(a, b).sum().backward()
    assert not _shares(a.grad.data, b.grad.data)
    a.grad.data += 1
    np.testing.assert_array_equal(to_numpy(b.grad), np.full(3, 2.0))
