"""Indexing ops (gpunet.functional.indexing): forward and gradients against PyTorch in float64 on every backend,
gn.gradcheck on random shapes. The errors are in test_indexing_errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip

HYP = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def leaf(a) -> gn.Tensor:
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def idx(a) -> gn.Tensor:
    """An int64 index tensor on the current backend."""
    return gn.tensor(np.asarray(a, dtype=np.int64))


def against_torch(gfn, tfn, *arrays, grad=True):
    """``gfn`` on float64 leaves matches ``tfn`` on torch float64 leaves (every output, for ops returning a
    tuple), and so do the gradients of a random weighting of the outputs."""
    torch = torch_or_skip()
    gs = [leaf(a) for a in arrays]
    ts = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    go, to = gfn(*gs), tfn(*ts)
    go, to = (list(go), list(to)) if isinstance(to, (tuple, list)) else ([go], [to])
    assert len(go) == len(to)
    for g, t in zip(go, to):
        assert tuple(g.shape) == tuple(t.shape)
        assert g.dtype == np.float64
        np.testing.assert_allclose(to_numpy(g), t.detach().numpy(), rtol=1e-12, atol=1e-12)
    if not grad:
        return
    rng = np.random.default_rng(7)
    ws = [rng.standard_normal(tuple(t.shape)) for t in to]
    gl = sum((g * gn.tensor(w)).sum() for g, w in zip(go, ws))
    tl = sum((t * torch.tensor(w)).sum() for t, w in zip(to, ws))
    gl.backward()
    tl.backward()
    for g, t in zip(gs, ts):
        tg = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        gg = np.zeros(t.shape) if g.grad is None else to_numpy(g.grad)
        np.testing.assert_allclose(gg, tg, rtol=1e-12, atol=1e-12)


def T(a):
    torch = torch_or_skip()
    return torch.tensor(np.asarray(a))


# ---------------------------------------------------------------------------------------------- gather/scatter
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_gather(backend, rng, dim):
    x = rng.standard_normal((3, 4, 5))
    ishape = [2, 3, 4]
    ishape[dim] = 6  # longer than the input along dim: indices repeat
    i = rng.integers(0, x.shape[dim], ishape)
    against_torch(lambda t: F.gather(t, dim, idx(i)), lambda t: t.gather(dim, T(i)), x)
    against_torch(lambda t: t.gather(dim, idx(i)), lambda t: t.gather(dim, T(i)), x)


def test_gather_0d_and_1d(backend, rng):
    torch = torch_or_skip()
    x = rng.standard_normal(5)
    against_torch(lambda t: t.gather(0, idx([4, 4, 0])), lambda t: t.gather(0, T([4, 4, 0])), x)
    against_torch(lambda t: t.gather(0, idx(3)), lambda t: t.gather(0, torch.tensor(3)), x)
    against_torch(lambda t: t.gather(0, idx([0, 0])), lambda t: t.gather(0, T([0, 0])), np.float64(2.5))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_src_and_value(backend, rng, dim):
    x = rng.standard_normal((4, 5))
    # distinct positions along dim in each line, so which write wins is never in question
    i = np.argsort(rng.random((4, 5)), axis=dim)[:3, :3]
    src = rng.standard_normal((3, 3))
    against_torch(lambda a, s: F.scatter(a, dim, idx(i), s), lambda a, s: a.scatter(dim, T(i), s), x, src)
    against_torch(lambda a, s: a.scatter(dim, idx(i), s), lambda a, s: a.scatter(dim, T(i), s), x, src)
    # a src larger than the index: only its leading block is used (torch's own backward refuses this case;
    # gradcheck covers ours in test_gradcheck_scatter)
    big = rng.standard_normal((5, 6))
    against_torch(lambda a, s: a.scatter(dim, idx(i), s), lambda a, s: a.scatter(dim, T(i), s), x, big, grad=False)
    against_torch(lambda a: a.scatter(dim, idx(i), 1.5), lambda a: a.scatter(dim, T(i), 1.5), x)
    against_torch(lambda a: F.scatter(a, dim, idx(i), value=-2.0), lambda a: a.scatter(dim, T(i), value=-2.0), x)


@pytest.mark.parametrize("dim", [0, 1, 2, -2])
def test_scatter_add_repeated_indices(backend, rng, dim):
    x = rng.standard_normal((3, 4, 2))
    ishape = [2, 3, 2]
    ishape[dim] = 5
    i = rng.integers(0, x.shape[dim], ishape)
    src = rng.standard_normal(ishape)
    against_torch(lambda a, s: F.scatter_add(a, dim, idx(i), s), lambda a, s: a.scatter_add(dim, T(i), s), x, src)
    against_torch(lambda a, s: a.scatter_add(dim, idx(i), s), lambda a, s: a.scatter_add(dim, T(i), s), x, src)
    big = rng.standard_normal([n + 1 for n in ishape])  # forward only: torch's backward refuses a larger src
    against_torch(lambda a, s: a.scatter_add(dim, idx(i), s), lambda a, s: a.scatter_add(dim, T(i), s), x, big,
                  grad=False)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(backend, rng, dim):
    x = rng.standard_normal((3, 4, 5))
    i = rng.integers(0, x.shape[dim], 7)  # repeats
    against_torch(lambda t: F.index_select(t, dim, idx(i)), lambda t: t.index_select(dim, T(i)), x)
    against_torch(lambda t: t.index_select(dim, idx(i[:1])), lambda t: t.index_select(dim, T(i[:1])), x)
    against_torch(lambda t: t.index_select(dim, idx(i[0])), lambda t: t.index_select(dim, T(i[0])), x)


def test_index_select_int32_index(backend, rng):
    x = rng.standard_normal((3, 4))
    i = np.array([2, 0, 2], dtype=np.int32)
    against_torch(lambda t: t.index_select(1, gn.tensor(i)), lambda t: t.index_select(1, T(i)), x)


# ---------------------------------------------------------------------------------------------- masks
def test_masked_fill(backend, rng):
    torch = torch_or_skip()
    x = rng.standard_normal((3, 4))
    m = rng.random((3, 4)) > 0.5
    against_torch(lambda t: t.masked_fill(gn.tensor(m), 2.5), lambda t: t.masked_fill(T(m), 2.5), x)
    mb = rng.random(4) > 0.5  # broadcast over rows
    against_torch(lambda t: F.masked_fill(t, gn.tensor(mb), -1.0), lambda t: t.masked_fill(T(mb), -1.0), x)
    mbig = rng.random((2, 3, 4)) > 0.5  # out of place: the result takes the broadcast shape
    against_torch(lambda t: t.masked_fill(gn.tensor(mbig), 0.0), lambda t: t.masked_fill(T(mbig), 0.0), x)
    # a 0-d tensor value is differentiable
    against_torch(lambda t, v: t.masked_fill(gn.tensor(m), v.reshape(())),
                  lambda t, v: t.masked_fill(T(m), v.reshape(())), x, np.array([0.7]))
    # the result keeps the input's dtype
    xi = gn.tensor(np.zeros(3, dtype=np.int64)).masked_fill(gn.tensor(np.ones(3, bool)), 1.7)
    assert xi.dtype == np.int64 and to_numpy(xi).tolist() == torch.zeros(3, dtype=torch.long).masked_fill(
        torch.ones(3, dtype=torch.bool), 1.7).tolist()


def test_masked_select(backend, rng):
    x = rng.standard_normal((3, 4))
    m = rng.random((3, 4)) > 0.5
    against_torch(lambda t: t.masked_select(gn.tensor(m)), lambda t: t.masked_select(T(m)), x)
    mb = rng.random((2, 1, 4)) > 0.3  # both broadcast: elements of x picked more than once
    against_torch(lambda t: F.masked_select(t, gn.tensor(mb)), lambda t: t.masked_select(T(mb)), x)


def test_tensor_where(backend, rng):
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    c = rng.random((3, 4)) > 0.5
    against_torch(lambda a, b: a.where(gn.tensor(c), b), lambda a, b: a.where(T(c), b), x, y)
    against_torch(lambda a: a.where(gn.tensor(c), 0.5), lambda a: a.where(T(c), 0.5), x)


# ---------------------------------------------------------------------------------------------- triangles
@pytest.mark.parametrize("diagonal", [-2, -1, 0, 1, 3])
@pytest.mark.parametrize("upper", [False, True])
def test_tril_triu(backend, rng, diagonal, upper):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 4, 5))
    g, t = (F.triu, torch.triu) if upper else (F.tril, torch.tril)
    against_torch(lambda a: g(a, diagonal), lambda a: t(a, diagonal), x)
    name = "triu" if upper else "tril"
    against_torch(lambda a: getattr(a, name)(diagonal), lambda a: getattr(a, name)(diagonal), x[0])
    against_torch(lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), x[0])


# ---------------------------------------------------------------------------------------------- splitting
@pytest.mark.parametrize("size,dim", [(2, 0), (3, 1), (1, -1), (10, 1), ([1, 0, 4], 1), ((3, 2), 0)])
def test_split(backend, rng, size, dim):
    x = rng.standard_normal((5, 5))
    against_torch(lambda t: F.split(t, size, dim), lambda t: t.split(size, dim), x)
    against_torch(lambda t: t.split(size, dim=dim), lambda t: t.split(size, dim=dim), x)


@pytest.mark.parametrize("chunks,dim", [(1, 0), (2, 0), (3, 1), (4, 1), (7, 0)])
def test_chunk(backend, rng, chunks, dim):
    x = rng.standard_normal((6, 5))
    against_torch(lambda t: F.chunk(t, chunks, dim), lambda t: t.chunk(chunks, dim), x)
    against_torch(lambda t: t.chunk(chunks, dim=dim), lambda t: t.chunk(chunks, dim=dim), x)


def test_split_chunk_empty(backend):
    torch = torch_or_skip()
    e = gn.zeros(0, dtype=np.float64)
    assert [tuple(p.shape) for p in e.split(2)] == [tuple(p.shape) for p in torch.zeros(0).split(2)]
    assert [tuple(p.shape) for p in e.split(0)] == [tuple(p.shape) for p in torch.zeros(0).split(0)]
    assert [tuple(p.shape) for p in e.chunk(3)] == [tuple(p.shape) for p in torch.zeros(0).chunk(3)]


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_unbind(backend, rng, dim):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 4))
    against_torch(lambda t: F.unbind(t, dim), lambda t: torch.unbind(t, dim), x)
    against_torch(lambda t: t.unbind(dim), lambda t: t.unbind(dim), x)


def test_split_pieces_are_views(backend, rng):
    x = gn.tensor(rng.standard_normal((4, 3)))
    a, _ = x.split(2)
    a[0, 0] = 100.0
    assert to_numpy(x)[0, 0] == 100.0
    u = x.unbind(1)[2]
    u[3] = -5.0
    assert to_numpy(x)[3, 2] == -5.0


# ---------------------------------------------------------------------------------------------- flip, roll
@pytest.mark.parametrize("dims", [(0,), (1,), (-1,), (0, 2), (2, 1, 0), ()])
def test_flip(backend, rng, dims):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 4))
    against_torch(lambda t: F.flip(t, dims), lambda t: torch.flip(t, dims), x)
    if dims:
        against_torch(lambda t: t.flip(*dims), lambda t: t.flip(*dims), x)
        against_torch(lambda t: t.flip(dims), lambda t: t.flip(dims), x)


def test_flip_is_a_copy(backend, rng):
    x = gn.tensor(rng.standard_normal((3, 2)))
    before = to_numpy(x).copy()
    y = x.flip(0)
    y[0, 0] = 1e6
    np.testing.assert_array_equal(to_numpy(x), before)


@pytest.mark.parametrize("shifts,dims", [(1, None), (-7, None), (2, 0), (1, -1), ((1, -2), (0, 2)), ((3, 1), (1, 1)),
                                         ([5], [1])])
def test_roll(backend, rng, shifts, dims):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 4))
    against_torch(lambda t: F.roll(t, shifts, dims), lambda t: torch.roll(t, shifts, dims), x)
    against_torch(lambda t: t.roll(shifts, dims), lambda t: t.roll(shifts, dims), x)


# ---------------------------------------------------------------------------------------------- repeat
@pytest.mark.parametrize("sizes", [(2, 3), (1, 1), (3, 1, 2), (2, 0), (2, 2, 1, 3)])
def test_repeat(backend, rng, sizes):
    x = rng.standard_normal((2, 3))
    against_torch(lambda t: t.repeat(*sizes), lambda t: t.repeat(*sizes), x)
    against_torch(lambda t: t.repeat(sizes), lambda t: t.repeat(sizes), x)
    against_torch(lambda t: F.repeat(t, sizes), lambda t: t.repeat(sizes), x)


def test_repeat_0d(backend):
    against_torch(lambda t: t.repeat(2, 3), lambda t: t.repeat(2, 3), np.float64(1.5))


@pytest.mark.parametrize("repeats,dim", [(2, None), (3, 0), (2, 1), (1, -1), (0, 1)])
def test_repeat_interleave_int(backend, rng, repeats, dim):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3))
    against_torch(lambda t: F.repeat_interleave(t, repeats, dim), lambda t: torch.repeat_interleave(t, repeats, dim), x)
    against_torch(lambda t: t.repeat_interleave(repeats, dim=dim), lambda t: t.repeat_interleave(repeats, dim=dim), x)


def test_repeat_interleave_tensor(backend, rng):
    x = rng.standard_normal((2, 3))
    r = np.array([2, 0, 3])
    against_torch(lambda t: t.repeat_interleave(idx(r), dim=1), lambda t: t.repeat_interleave(T(r), dim=1), x)
    against_torch(lambda t: t.repeat_interleave(idx([2]), dim=0), lambda t: t.repeat_interleave(T([2]), dim=0), x)
    r6 = np.array([1, 2, 0, 1, 3, 1])
    against_torch(lambda t: t.repeat_interleave(idx(r6)), lambda t: t.repeat_interleave(T(r6)), x)
    against_torch(lambda t: t.repeat_interleave(3), lambda t: t.repeat_interleave(3), np.float64(2.0))


# ---------------------------------------------------------------------------------------------- gradcheck
@given(shape=SHAPES, data=st.data())
@HYP
def test_gradcheck_gather_scatter_add_index_select(backend, shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    ishape = [data.draw(st.integers(1, s)) for s in shape]
    ishape[dim] = data.draw(st.integers(1, 5))
    i = rng.integers(0, n, ishape)
    x = leaf(rng.standard_normal(shape))
    assert gn.gradcheck(lambda t: F.gather(t, dim, idx(i)), [x])
    src = leaf(rng.standard_normal(ishape))
    assert gn.gradcheck(lambda a, s: F.scatter_add(a, dim, idx(i), s), [x, src])
    j = rng.integers(0, n, data.draw(st.integers(1, 5)))
    assert gn.gradcheck(lambda t: F.index_select(t, dim, idx(j)), [x])


@given(shape=SHAPES, data=st.data())
@HYP
def test_gradcheck_shape_ops(backend, shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = leaf(rng.standard_normal(shape))
    nd = len(shape)
    sizes = tuple(data.draw(st.integers(1, 3)) for _ in range(nd + data.draw(st.integers(0, 1))))
    assert gn.gradcheck(lambda t: t.repeat(*sizes), [x])
    dim = data.draw(st.integers(-nd, nd - 1))
    shift = data.draw(st.integers(-5, 5))
    assert gn.gradcheck(lambda t: t.roll(shift, dim), [x])
    assert gn.gradcheck(lambda t: t.roll(shift), [x])
    assert gn.gradcheck(lambda t: t.flip(dim), [x])
    assert gn.gradcheck(lambda t: t.repeat_interleave(2, dim=dim), [x])
    m = gn.tensor(rng.random(shape) > 0.5)
    assert gn.gradcheck(lambda t: t.masked_fill(m, 3.0), [x])
    assert gn.gradcheck(lambda t: (t.masked_select(m) if m.any().item() else t.sum()), [x])
    assert gn.gradcheck(lambda t: t.chunk(2, dim)[0], [x])
    if nd >= 2:
        k = data.draw(st.integers(-2, 2))
        assert gn.gradcheck(lambda t: t.tril(k) + 2 * t.triu(k), [x])


def test_gradcheck_scatter(backend, rng):
    x = leaf(rng.standard_normal((4, 5)))
    s = leaf(rng.standard_normal((3, 6)))
    i = np.argsort(rng.random((4, 5)), axis=1)[:3, :4]
    assert gn.gradcheck(lambda a, b: F.scatter(a, 1, idx(i), b), [x, s])
    v = leaf(np.array(0.3))
    mk = gn.tensor(rng.random((4, 5)) > 0.5)
    assert gn.gradcheck(lambda a, b: a.masked_fill(mk, b), [x, v])
