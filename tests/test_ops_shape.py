"""Elementary ops (gpunet.functional.math), continued: shape ops, indexing, joining and selection, the gradient
routing of add / mul / max, and max/min along a dim; forward against NumPy float64, backward by gn.gradcheck in
float64 (arithmetic, matmul, elementwise ops and reductions: test_ops.py)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip
from hypothesis import given
from hypothesis.extra import numpy as hnp

import gpunet as gn
import gpunet.functional as F
from test_ops import HYP, SEEDS, check, leaf, values


# ---------------------------------------------------------------------------------------------- shape ops
@pytest.mark.parametrize("shape", [(6, 2), (-1,), (3, -1), (1, 12), 12, (2, 2, 3)])
def test_reshape(backend, rng, shape):
    a = values(rng, (3, 4))
    check(lambda t: F.reshape(t, shape), lambda x: np.reshape(x, shape), a)
    if isinstance(shape, tuple):
        check(lambda t: t.reshape(*shape), lambda x: np.reshape(x, shape), a)
        check(lambda t: t.view(shape), lambda x: np.reshape(x, shape), a)


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*12 elements.*\(5, 2\)"):
        gn.ones(3, 4).reshape(5, 2)


def test_transpose_forms(backend, rng):
    a = values(rng, (2, 3, 4))
    check(lambda t: F.transpose(t), np.transpose, a)
    check(lambda t: F.transpose(t, (1, 2, 0)), lambda x: np.transpose(x, (1, 2, 0)), a)
    check(lambda t: t.T, lambda x: x.T, a)
    check(lambda t: t.transpose(0, 2), lambda x: np.swapaxes(x, 0, 2), a)
    check(lambda t: t.transpose(-1, 1), lambda x: np.swapaxes(x, -1, 1), a)
    check(lambda t: t.permute(2, 0, 1), lambda x: np.transpose(x, (2, 0, 1)), a)
    check(lambda t: t.permute((1, 0, 2)), lambda x: np.transpose(x, (1, 0, 2)), a)


def test_flatten_unsqueeze_squeeze(backend, rng):
    a = values(rng, (2, 1, 3))
    check(lambda t: t.flatten(), lambda x: x.reshape(-1), a)
    check(lambda t: t.flatten(1), lambda x: x.reshape(2, 3), a)
    check(lambda t: t.unsqueeze(0), lambda x: x[None], a)
    check(lambda t: t.unsqueeze(-1), lambda x: x[..., None], a)
    check(lambda t: t.squeeze(), lambda x: x.squeeze(), a)
    check(lambda t: t.squeeze(1), lambda x: x.squeeze(1), a)


# ---------------------------------------------------------------------------------------------- indexing
INDICES = {
    "slices": (slice(1, 3), slice(None, None, 2)),
    "ellipsis": (Ellipsis, 0),
    "reverse": slice(None, None, -1),
    "newaxis": (None, 1),
    "int": 2,
    "negative int": -1,
    "int array, repeats": np.array([0, 0, 3, 1, 0]),
    "int arrays, repeated pairs": (np.array([0, 0, 1, 0]), np.array([2, 2, 2, 2])),
    "slice + int array": (slice(None), np.array([1, 1, 0])),
    "2-D int array": np.array([[0, 1], [1, 1]]),
    "list": [3, 3, 0],
    "boolean mask": np.array([True, False, True, True]),
    "2-D boolean mask": np.arange(12).reshape(4, 3) % 3 == 0,
    "boolean mask + repeated int array": (np.array([False, True, False, False]), np.array([0, 0, 2])),
    "boolean mask + slice": (np.array([True, False, True, True]), slice(1, None)),
}


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem(backend, rng, name):
    index = INDICES[name]
    a = values(rng, (4, 3))
    check(lambda t: t[index], lambda x: x[index], a)
    check(lambda t: F.getitem(t, index), lambda x: x[index], a)


def test_getitem_repeated_indices_accumulate(backend):
    x = leaf([10.0, 20.0, 30.0, 40.0])
    w = gn.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float64)
    (x[[0, 0, 2, 0, 2]] * w).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [1 + 2 + 4, 0, 3 + 5, 0])


def test_getitem_mask_with_repeated_int_array_accumulates_like_torch(backend):
    torch = torch_or_skip()
    a = np.arange(6.0).reshape(2, 3)
    rows, cols = np.array([True, False]), np.array([0, 0, 2])
    x = leaf(a)
    x[rows, cols].sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    tx[torch.tensor(rows), torch.tensor(cols)].sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())


def test_getitem_tensor_indices(backend, rng):
    a = values(rng, (4, 3))
    idx = gn.tensor([2, 2, 0])
    check(lambda t: t[idx], lambda x: x[[2, 2, 0]], a)
    check(lambda t: t[t > 0], lambda x: x[x > 0], a)
    check(lambda t: t[idx, 1], lambda x: x[[2, 2, 0], 1], a)


# ---------------------------------------------------------------------------------------------- joining, selection
@pytest.mark.parametrize("shapes,axis", [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 2)], 1),
                                         ([(2, 3), (2, 2)], -1), ([(1, 2, 2), (3, 2, 2)], 0)])
def test_concatenate(backend, rng, shapes, axis):
    arrays = [values(rng, s) for s in shapes]
    check(lambda *ts: F.concatenate(ts, axis=axis), lambda *xs: np.concatenate(xs, axis=axis), *arrays)
    check(lambda *ts: gn.cat(list(ts), axis), lambda *xs: np.concatenate(xs, axis=axis), *arrays)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack(backend, rng, axis):
    arrays = [values(rng, (2, 3)) for _ in range(3)]
    check(lambda *ts: F.stack(ts, axis=axis), lambda *xs: np.stack(xs, axis=axis), *arrays)


def test_joining_nothing_raises():
    with pytest.raises(ValueError, match="non-empty"):
        F.concatenate([])
    with pytest.raises(ValueError, match="non-empty"):
        F.stack([])


def test_concatenate_mixed_requires_grad(backend, rng):
    a = leaf(values(rng, (2, 3)))
    b = gn.tensor(values(rng, (1, 3)), dtype=np.float64)
    F.concatenate([a, b]).sum().backward()
    np.testing.assert_array_equal(to_numpy(a.grad), np.ones((2, 3)))
    assert b.grad is None


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), seed=SEEDS)
@HYP
def test_where_broadcast(backend, shapes, seed):
    rng = np.random.default_rng(seed)
    sc, sa, sb = shapes.input_shapes
    cond_np = rng.random(sc) < 0.5
    cond = gn.tensor(cond_np)
    check(lambda a, b: F.where(cond, a, b), lambda a, b: np.where(cond_np, a, b),
          values(rng, sa), values(rng, sb))


def test_where_with_scalar_branch(backend, rng):
    a = values(rng, (3, 4))
    check(lambda t: gn.where(t > 0, t, 0.0), lambda x: np.where(x > 0, x, 0.0), a)


# ---------------------------------------------------------------------------------------------- gate patterns
def test_add_distributes_the_gradient_unchanged(backend, rng):
    a, b = leaf(values(rng, (2, 3))), leaf(values(rng, (2, 3)))
    g = values(rng, (2, 3))
    (a + b).backward(gn.tensor(g, dtype=np.float64))
    np.testing.assert_array_equal(to_numpy(a.grad), g)
    np.testing.assert_array_equal(to_numpy(b.grad), g)


def test_mul_swaps_the_operands(backend, rng):
    an, bn, g = values(rng, (2, 3)), values(rng, (2, 3)), values(rng, (2, 3))
    a, b = leaf(an), leaf(bn)
    (a * b).backward(gn.tensor(g, dtype=np.float64))
    np.testing.assert_allclose(to_numpy(a.grad), g * bn, rtol=1e-15)
    np.testing.assert_allclose(to_numpy(b.grad), g * an, rtol=1e-15)


def test_max_routes_the_gradient_to_the_winner(backend):
    x = leaf([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    x.max().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [[0, 0, 0], [1, 0, 0]])
    x.grad = None
    x.max(axis=1).values.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [[0, 1, 0], [1, 0, 0]])


def test_max_ties_over_all_elements_are_shared_evenly(backend):
    x = leaf([[3.0, 1.0, 3.0], [0.0, 3.0, 3.0]])
    x.max().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [[0.25, 0, 0.25], [0, 0.25, 0.25]])


def test_max_ties_along_one_axis_go_to_the_first_winner(backend):
    x = leaf([[3.0, 1.0, 3.0], [2.0, 2.0, 0.0]])
    x.max(axis=1).values.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [[1, 0, 0], [1, 0, 0]])
    x.grad = None
    x.min(axis=0).values.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [[0, 1, 0], [1, 0, 1]])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (0, 1, 2)])
def test_max_min_routing_matches_torch(backend, name, axis):
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    a = rng.integers(0, 3, (3, 4, 2)).astype(np.float64)  # many ties
    g = rng.standard_normal(np.max(a, axis=axis).shape)
    x = leaf(a)
    mine = getattr(x, name)(axis).values if isinstance(axis, int) else getattr(x, "a" + name)(axis)
    mine.backward(gn.tensor(g, dtype=np.float64))
    tx = torch.tensor(a, requires_grad=True)
    if isinstance(axis, int):
        out = getattr(tx, name)(dim=axis).values    # torch.max(dim): routed to the returned index
    else:
        amax = torch.amax if name == "max" else torch.amin
        out = amax(tx) if axis is None else amax(tx, dim=axis)   # shared evenly among ties
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-15)


# ---------------------------------------------------------------------------------------------- max/min(dim): (values, indices)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_along_a_dim_return_values_and_indices(backend, name):
    x = gn.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    r = getattr(x, name)(1)
    values, indices = r              # unpacking two rows used to assign the two values silently
    ref = getattr(np, name)(to_numpy(x), axis=1)
    np.testing.assert_array_equal(to_numpy(values), ref)
    np.testing.assert_array_equal(to_numpy(indices), getattr(np, "arg" + name)(to_numpy(x), axis=1))
    assert r.values is values and r.indices is indices and indices.dtype == np.int64
    assert type(r).__name__ == name and getattr(gn.return_types, name) is type(r)
    kept = getattr(F, name)(x, dim=0, keepdim=True)
    assert kept.values.shape == (1, 3) and kept.indices.shape == (1, 3)
    whole = getattr(x, name)()
    assert isinstance(whole, gn.Tensor) and whole.ndim == 0  # no dim: a tensor, as torch


@pytest.mark.torch
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_dim_match_torch(backend, name, dim, keepdim):
    torch = torch_or_skip()
    a = np.random.default_rng(5).integers(0, 3, (3, 4)).astype(np.float64)  # ties: first index, as torch
    x = leaf(a)
    values, indices = getattr(x, name)(dim, keepdim=keepdim)
    tx = torch.tensor(a, requires_grad=True)
    tv, ti = getattr(tx, name)(dim, keepdim=keepdim)
    np.testing.assert_array_equal(to_numpy(indices), ti.numpy())
    g = np.random.default_rng(6).standard_normal(tv.shape)
    values.backward(gn.tensor(g, dtype=np.float64))
    tv.backward(torch.tensor(g))
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())


def test_max_with_an_empty_other_dim_is_empty(backend):
    values, indices = gn.ones(0, 3).max(1)         # used to raise; torch returns empty results
    assert values.shape == (0,) and indices.shape == (0,)
    values, indices = gn.ones(4, 0).min(0)
    assert values.shape == (0,) and indices.shape == (0,)
    assert gn.ones(0, 3).sum(1).shape == (0,)
    with pytest.raises(IndexError, match="non-zero size"):
        gn.ones(3, 0).max(1)
    with pytest.raises(RuntimeError, match="empty"):
        gn.ones(0, 3).max()


def test_max_min_reject_what_torch_rejects(backend):
    x = gn.ones(2, 3)
    with pytest.raises(TypeError, match="amax"):
        x.max(dim=(0, 1))
    with pytest.raises(TypeError, match="keepdim needs a dim"):
        x.max(keepdim=True)
    assert gn.amax(x, (0, 1), keepdim=True).shape == (1, 1)


# ---------------------------------------------------------------------------------------------- pow at zero
@pytest.mark.torch
@pytest.mark.parametrize("c", [0, 1, 2, 3, -1, -2, 0.5, 1.5, 0.0, 2.0])
def test_pow_gradient_at_zero_matches_torch(backend, c):
    """d/dx x**0 was NaN at x = 0 (torch: 0); every exponent's gradient at 0 and at negatives as torch."""
    torch = torch_or_skip()
    a = np.array([0.0, -1.0, 2.0, 0.25])
    x = leaf(a)
    with np.errstate(all="ignore"):
        (x ** c).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    (tx ** c).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-15, atol=0)  # inf/NaN where torch has


@pytest.mark.torch
def test_pow_tensor_exponent_gradients_match_torch(backend):
    torch = torch_or_skip()
    a, e = np.array([0.0, -1.0, 2.0, 0.0, 3.0]), np.array([0.0, 2.0, 0.5, 1.5, -1.0])
    x, y = leaf(a), leaf(e)
    with np.errstate(all="ignore"):
        (x ** y).sum().backward()
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(e, requires_grad=True)
    (tx ** ty).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(to_numpy(y.grad), ty.grad.numpy(), rtol=1e-14)  # NaN where ln(base) is not real
    b = leaf([0.0, 2.0, 3.0])
    (2.0 ** b).sum().backward()
    tb = torch.tensor([0.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    (2.0 ** tb).sum().backward()
    np.testing.assert_allclose(to_numpy(b.grad), tb.grad.numpy(), rtol=1e-14)
