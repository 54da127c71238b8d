"""Elementary ops (gpunet.functional.math): forward against NumPy float64, backward by gn.gradcheck in float64."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gpunet as gn
import gpunet.functional as F

HYP = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
BROADCAST2 = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)
SEEDS = st.integers(0, 2**16)


# ---------------------------------------------------------------------------------------------- helpers
def leaf(a) -> gn.Tensor:
    """A float64 leaf on the current backend that requires grad."""
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def values(rng, shape, kind="any"):
    """Test data: "any" in [-2, 2], "pos" in [0.5, 2], "nonzero" with |x| in [0.5, 2]."""
    if kind == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "nonzero":
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return rng.uniform(-2.0, 2.0, shape)


def distinct(rng, shape):
    """Values at least 0.5 apart (no ties, so max/min are differentiable at them)."""
    n = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(n).reshape(shape) - n / 2) * 0.5 + 0.1


def check(op, ref, *arrays, rtol=1e-10, atol=1e-12):
    """``op`` on float64 leaves matches ``ref`` on the arrays, and its backward passes gradcheck."""
    ts = [leaf(a) for a in arrays]
    out = op(*ts)
    assert out.dtype == np.float64
    np.testing.assert_allclose(to_numpy(out), ref(*arrays), rtol=rtol, atol=atol)
    assert gn.gradcheck(op, ts)


# ---------------------------------------------------------------------------------------------- arithmetic
BINARY = {
    "add": (F.add, np.add, "any", "any"),
    "sub": (F.sub, np.subtract, "any", "any"),
    "mul": (F.mul, np.multiply, "any", "any"),
    "div": (F.div, np.divide, "any", "nonzero"),
    "pow": (F.pow, np.power, "pos", "any"),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(shapes=BROADCAST2, seed=SEEDS)
@HYP
def test_binary_broadcast(backend, name, shapes, seed):
    op, ref, ka, kb = BINARY[name]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    check(op, ref, values(rng, sa, ka), values(rng, sb, kb))


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_scalar_operand(backend, name, rng):
    op, ref, ka, _ = BINARY[name]
    a = values(rng, (2, 3), ka)
    check(lambda t: op(t, 1.5), lambda x: ref(x, 1.5), a)
    b = values(rng, (2, 3), "nonzero" if name == "div" else "any")
    check(lambda t: op(1.5, t), lambda x: ref(1.5, x), b)


@pytest.mark.parametrize("name,expr,ref", [
    ("add", lambda a, b: a + b, np.add), ("sub", lambda a, b: a - b, np.subtract),
    ("mul", lambda a, b: a * b, np.multiply), ("div", lambda a, b: a / b, np.divide),
    ("pow", lambda a, b: a ** b, np.power), ("matmul", lambda a, b: a @ b, np.matmul)])
def test_python_operators_match_functional(backend, rng, name, expr, ref):
    a = values(rng, (3, 3), "pos")
    b = values(rng, (3, 3), "nonzero")
    check(expr, ref, a, b)


def test_neg(backend, rng):
    check(F.neg, np.negative, values(rng, (2, 3)))
    check(lambda t: -t, np.negative, values(rng, (4,)))


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, 2.5, 0, -0.5])
def test_pow_scalar_exponent(backend, rng, exponent):
    check(lambda t: t ** exponent, lambda x: x ** exponent, values(rng, (2, 3), "pos"))


def test_pow_square_of_negative_base(backend, rng):
    check(lambda t: t ** 2, lambda x: x ** 2, values(rng, (5,), "nonzero"))


def test_pow_tensor_exponent(backend, rng):
    check(F.pow, np.power, values(rng, (2, 3), "pos"), values(rng, (2, 3)))
    check(lambda e: 2.0 ** e, lambda e: 2.0 ** e, values(rng, (4,)))


# ---------------------------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((3, 4), (4, 2)),             # 2-D
    ((2, 3, 4), (2, 4, 5)),       # batched
    ((2, 1, 3, 4), (5, 4, 2)),    # batch dims broadcast both ways
    ((3, 4), (2, 4, 5)),          # 2-D against batched
    ((1, 3, 4), (2, 1, 4, 2)),
    ((4,), (4,)),                 # 1-D cases as NumPy
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 3)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(backend, rng, sa, sb):
    check(F.matmul, np.matmul, values(rng, sa), values(rng, sb))


@given(batch=BROADCAST2, mkn=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)), seed=SEEDS)
@HYP
def test_matmul_batched_broadcast(backend, batch, mkn, seed):
    rng = np.random.default_rng(seed)
    m, k, n = mkn
    ba, bb = batch.input_shapes
    check(F.matmul, np.matmul, values(rng, ba + (m, k)), values(rng, bb + (k, n)))


def test_matmul_shape_mismatch_names_both_shapes():
    a, b = gn.ones(3, 4), gn.ones(5, 2)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 2\)"):
        a @ b


def test_matmul_rejects_scalars():
    with pytest.raises(ValueError, match="at least one dimension"):
        F.matmul(gn.tensor(2.0), gn.ones(3))


# ---------------------------------------------------------------------------------------------- elementwise
UNARY = {
    "exp": (F.exp, np.exp, "any"),
    "log": (F.log, np.log, "pos"),
    "sqrt": (F.sqrt, np.sqrt, "pos"),
    "abs": (F.abs, np.abs, "nonzero"),
    "neg": (F.neg, np.negative, "any"),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(shape=SHAPES, seed=SEEDS)
@HYP
def test_unary(backend, name, shape, seed):
    op, ref, kind = UNARY[name]
    check(op, ref, values(np.random.default_rng(seed), shape, kind))


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs"])
def test_unary_methods(backend, rng, name):
    _, ref, kind = UNARY[name]
    check(lambda t: getattr(t, name)(), ref, values(rng, (2, 3), kind))


def test_abs_gradient_at_zero_is_zero(backend):
    x = leaf([-1.0, 0.0, 2.0])
    abs(x).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [-1.0, 0.0, 1.0])


def _away_from(a, bounds, gap=0.05):
    for b in (b for b in bounds if b is not None):
        a = np.where(np.abs(a - b) < gap, a + 2 * gap, a)
    return a


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.7), (-0.5, None), (None, 0.7)])
def test_clip(backend, rng, lo, hi):
    a = _away_from(values(rng, (3, 4)), [lo, hi])
    check(lambda t: F.clip(t, lo, hi), lambda x: np.clip(x, lo, hi), a)
    check(lambda t: t.clamp(min=lo, max=hi), lambda x: np.clip(x, lo, hi), a)


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="at least one"):
        F.clip(gn.ones(2))


def test_clip_gradient_at_the_bounds_matches_torch(backend):
    torch = torch_or_skip()
    a = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    x = leaf(a)
    F.clamp(x, 0.0, 1.0).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    torch.clamp(tx, 0.0, 1.0).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())


# ---------------------------------------------------------------------------------------------- reductions
def _extremum(op, aop):
    """max/min as a values-only reduction: ``.values`` along one dim, ``amax``/``amin`` over several."""
    def f(t, axis=None, keepdims=False):
        if isinstance(axis, int):
            return op(t, axis, keepdims).values
        if axis is None and not keepdims:
            return op(t)
        return aop(t, axis, keepdims)
    return f


REDUCTIONS = {"sum": (F.sum, np.sum), "mean": (F.mean, np.mean), "max": (_extremum(F.max, F.amax), np.max),
              "min": (_extremum(F.min, F.amin), np.min)}
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction(backend, rng, name, axis, keepdims):
    op, ref = REDUCTIONS[name]
    a = distinct(rng, (2, 3, 4))
    check(lambda t: op(t, axis=axis, keepdims=keepdims), lambda x: ref(x, axis=axis, keepdims=keepdims), a)


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_methods_accept_torch_names(backend, rng, name):
    _, ref = REDUCTIONS[name]
    a = distinct(rng, (3, 4))

    def values(r):
        return r.values if name in ("max", "min") else r
    check(lambda t: values(getattr(t, name)(dim=1, keepdim=True)), lambda x: ref(x, axis=1, keepdims=True), a)
    check(lambda t: values(getattr(t, name)(axis=0)), lambda x: ref(x, axis=0), a)


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=SEEDS)
@HYP
def test_reduction_generated(backend, name, data, shape, seed):
    op, ref = REDUCTIONS[name]
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                               hnp.valid_tuple_axes(len(shape), min_size=1)), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    a = distinct(np.random.default_rng(seed), shape)
    check(lambda t: op(t, axis=axis, keepdims=keepdims), lambda x: ref(x, axis=axis, keepdims=keepdims), a)


def test_max_of_empty_raises():
    with pytest.raises(RuntimeError, match="empty"):
        F.max(gn.zeros(0))
