"""The no-gradient part of PyTorch's everyday Tensor surface, checked against PyTorch on both backends: sizes,
casts and dtype names, ``new_*``, layout helpers, creation functions, bitwise/floor-division/modulo operators,
comparisons and predicates, ``__format__``/``__index__``, and ``dim=``/``keepdim=`` in module-level functions."""
from __future__ import annotations

import operator

import numpy as np
import pytest

import gpunet as gn
from conftest import to_numpy, torch_or_skip

X = np.array([[-3.5, 2.0, 7.25], [0.0, -1.0, 4.5]])
Y = np.array([[2.0, -1.5, 0.5], [3.0, 2.0, -4.0]])
I = np.array([[7, -7, 3], [0, 5, -9]])
J = np.array([[2, 2, -2], [3, -4, 4]])


def _t(torch, a, **kw):
    return torch.tensor(a, **kw)


def _same(res, ref, exact=True):
    """``res`` (a Tensor) equals the torch tensor ``ref`` in values, shape and dtype."""
    ref_np = ref.detach().numpy()
    got = res.numpy()
    assert got.shape == ref_np.shape
    assert str(got.dtype) == str(ref_np.dtype).replace("torch.", ""), (got.dtype, ref_np.dtype)
    if exact:
        np.testing.assert_array_equal(got, ref_np)
    else:
        np.testing.assert_allclose(got, ref_np, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------- sizes and casts
def test_size_dim_numel(backend):
    torch = torch_or_skip()
    x, tx = gn.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert x.size() == tuple(tx.size()) and isinstance(x.size(), gn.Size) and isinstance(x.size(), tuple)
    assert [x.size(d) for d in range(-3, 3)] == [tx.size(d) for d in range(-3, 3)]
    assert x.dim() == tx.dim() == 3 and x.numel() == tx.numel() == 24 and x.size().numel() == 24
    assert repr(x.size()) == "Size([2, 3, 4])"
    for d in (3, -4):
        with pytest.raises(IndexError, match="size"):
            x.size(d)
    with pytest.raises(IndexError):
        gn.tensor(1.0).size(0)
    assert gn.tensor(1.0).size() == ()


def test_cast_methods_and_dtype_names(backend):
    torch = torch_or_skip()
    assert (gn.long, gn.int, gn.bool, gn.float, gn.double, gn.half) == (
        np.int64, np.int32, np.bool_, np.float32, np.float64, np.float16)
    data = [[1.5, -0.0], [-2.7, 3.0]]
    x, tx = gn.tensor(data, dtype=gn.double), torch.tensor(data, dtype=torch.float64)
    for name in ("long", "int", "bool", "half", "float", "double"):
        _same(getattr(x, name)(), getattr(tx, name)())
    _same(x.type_as(gn.zeros(1, dtype=gn.int)), tx.type_as(torch.zeros(1, dtype=torch.int32)))
    w = gn.tensor([1.0, 2.0], requires_grad=True)
    w.double().sum().backward()  # a cast to a floating dtype stays differentiable
    assert w.grad.dtype == np.float32 and to_numpy(w.grad).tolist() == [1.0, 1.0]
    assert not w.long().requires_grad


def test_new_constructors(backend):
    torch = torch_or_skip()
    x, tx = gn.ones(2, dtype=gn.double), torch.ones(2, dtype=torch.float64)
    _same(x.new_zeros(2, 3), tx.new_zeros(2, 3))
    _same(x.new_zeros((2, 3)), tx.new_zeros((2, 3)))
    _same(x.new_ones([1]), tx.new_ones([1]))
    _same(x.new_full((2,), 3), tx.new_full((2,), 3))
    _same(x.new_tensor([1, 2]), tx.new_tensor([1, 2]))  # this tensor's dtype, not the data's
    _same(x.new_tensor([1, 2], dtype=gn.long), tx.new_tensor([1, 2], dtype=torch.int64))
    e = x.new_empty(2, 3)
    assert e.shape == (2, 3) and e.dtype == np.float64 and e.device == x.device
    assert x.new_zeros(2).device == backend.device
    assert x.new_ones(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="size"):
        x.new_full(2, 3)


def test_t_mT_contiguous_view_as_expand(backend):
    torch = torch_or_skip()
    a = np.arange(24.0).reshape(2, 3, 4)
    x, tx = gn.tensor(a), torch.tensor(a)
    _same(x[0].t(), tx[0].t())
    _same(x[0, 0].t(), tx[0, 0].t())
    _same(gn.tensor(2.0).t(), torch.tensor(2.0).t())
    _same(x.mT, tx.mT)
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        x.t()
    with pytest.raises(RuntimeError, match="mT"):
        _ = x[0, 0].mT
    y = x.mT
    assert not y.is_contiguous() and y.contiguous().is_contiguous() and x.contiguous() is x
    _same(y.contiguous(), tx.mT.contiguous())
    _same(x.view_as(gn.zeros(6, 4)), tx.view_as(torch.zeros(6, 4)))
    _same(x.reshape_as(gn.zeros(4, 6)), tx.reshape_as(torch.zeros(4, 6)))
    c = np.array([[1.0], [2.0], [3.0]])
    _same(gn.tensor(c).expand(2, -1, 4), torch.tensor(c).expand(2, -1, 4))
    _same(gn.tensor(c).expand_as(gn.zeros(2, 3, 4)), torch.tensor(c).expand_as(torch.zeros(2, 3, 4)))
    for bad in ((-1, 4, 4), (3, 4, 1)[:1], (2, 5)):
        with pytest.raises(RuntimeError):
            gn.tensor(np.ones((3, 2))).expand(*bad)
    # gradients: expand sums back, contiguous / view_as pass through
    w = gn.tensor(c, requires_grad=True)
    (w.expand(2, 3, 4) * 2).sum().backward()
    tw = torch.tensor(c, requires_grad=True)
    (tw.expand(2, 3, 4) * 2).sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), tw.grad.numpy())


# ---------------------------------------------------------------------------------------------- creation
def test_like_and_empty_creation(backend):
    torch = torch_or_skip()
    x = gn.ones(2, 3, dtype=gn.long)
    tx = torch.ones(2, 3, dtype=torch.int64)
    _same(gn.full_like(x, 2.7), torch.full_like(tx, 2.7))
    _same(gn.full_like(x, 2.5, dtype=gn.double), torch.full_like(tx, 2.5, dtype=torch.float64))
    _same(gn.zeros_like(x, dtype=gn.float), torch.zeros_like(tx, dtype=torch.float32))
    for f in (gn.rand_like, gn.randn_like):
        r = f(gn.zeros(500, dtype=gn.double))
        assert r.shape == (500,) and r.dtype == np.float64 and r.device == backend.device
        with pytest.raises(TypeError, match="floating"):
            f(x)
    assert 0 <= gn.rand_like(gn.zeros(1000)).numpy().min() and gn.rand_like(gn.zeros(1000)).numpy().max() < 1
    assert abs(float(gn.randn_like(gn.zeros(20000, dtype=gn.double)).numpy().std()) - 1) < 0.05
    assert gn.rand_like(gn.zeros(3), requires_grad=True).requires_grad
    e, te = gn.empty(2, 3), torch.empty(2, 3)
    assert e.shape == tuple(te.shape) and str(e.dtype) == "float32" and e.device == backend.device
    el = gn.empty_like(x)
    assert el.shape == (2, 3) and el.dtype == np.int64
    assert gn.empty((4,), dtype=gn.half).dtype == np.float16


@pytest.mark.parametrize("args", [(0, 1, 7), (-3.3, 7.1, 101), (0.1, 0.9, 1000), (1e-3, 123.456, 77), (3, 1, 1),
                                  (3, 1, 0), (2, -5, 6)])
@pytest.mark.parametrize("dtype", [None, "float64", "int64"])
def test_linspace_matches_torch(backend, args, dtype):
    torch = torch_or_skip()
    tdt = None if dtype is None else getattr(torch, dtype)
    _same(gn.linspace(*args, dtype=dtype), torch.linspace(*args, dtype=tdt))  # bit-identical, float32 too
    assert gn.linspace(*args).device == backend.device


def test_linspace_integer_truncates_its_ends_first(backend):
    torch = torch_or_skip()
    _same(gn.linspace(-5.5, 5, 4, dtype=gn.long), torch.linspace(-5.5, 5, 4, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="non-negative"):
        gn.linspace(0, 1, -1)


def test_logspace_and_eye(backend):
    torch = torch_or_skip()
    _same(gn.logspace(0, 2, 3, dtype=gn.double), torch.logspace(0, 2, 3, dtype=torch.float64))
    _same(gn.logspace(-1, 1, 5, base=2.0, dtype=gn.double), torch.logspace(-1, 1, 5, base=2.0,
                                                                           dtype=torch.float64))
    _same(gn.logspace(0, 1, 4), torch.logspace(0, 1, 4), exact=False)
    _same(gn.eye(3), torch.eye(3))
    _same(gn.eye(2, 3, dtype=gn.long), torch.eye(2, 3, dtype=torch.int64))
    assert gn.eye(2, requires_grad=True).requires_grad


def test_randint_randperm(backend):
    torch = torch_or_skip()
    r = gn.randint(5, (2, 3))
    assert r.shape == (2, 3) and r.dtype == np.int64 == torch.randint(5, (2, 3)).numpy().dtype
    assert r.device == backend.device and not r.requires_grad
    v = gn.randint(-2, 3, (4000,)).numpy()
    assert v.min() == -2 and v.max() == 2
    assert gn.randint(0, 3, size=(2,)).shape == (2,)
    assert gn.randint(0, 3, (2,), dtype=gn.float).dtype == np.float32
    p = gn.randperm(10)
    assert p.dtype == np.int64 and sorted(p.numpy().tolist()) == list(range(10)) and p.device == backend.device
    assert gn.randperm(0).shape == (0,) and gn.randperm(4, dtype=gn.int).dtype == np.int32
    gn.manual_seed(3)
    a = gn.randint(100, (8,)).numpy()
    gn.manual_seed(3)
    np.testing.assert_array_equal(a, gn.randint(100, (8,)).numpy())
    with pytest.raises(TypeError):
        gn.randint(5)
    with pytest.raises(RuntimeError):
        gn.randint(3, 3, (2,))
    with pytest.raises(TypeError, match="floating"):
        gn.randint(3, (2,), requires_grad=True)
    with pytest.raises(TypeError, match="floating"):
        gn.randperm(3, requires_grad=True)


def test_from_numpy_shares_memory():
    torch = torch_or_skip()
    a = np.arange(4.0)
    t, tt = gn.from_numpy(a), torch.from_numpy(a.copy())
    assert t.device == "cpu" and t.dtype == np.float64 and t.dtype == tt.numpy().dtype
    a[0] = 9.0
    assert t.numpy()[0] == 9.0
    t[1] = 7.0
    assert a[1] == 7.0
    with pytest.raises(TypeError, match="ndarray"):
        gn.from_numpy([1.0, 2.0])


# ---------------------------------------------------------------------------------------------- operators
@pytest.mark.parametrize("name,op", [("//", operator.floordiv), ("%", operator.mod)])
def test_floordiv_and_mod_match_torch(backend, name, op):
    torch = torch_or_skip()
    for a, b in ((X, Y), (I, J)):
        x, y, tx, ty = gn.tensor(a), gn.tensor(b), torch.tensor(a), torch.tensor(b)
        _same(op(x, y), op(tx, ty))
        _same(op(x, 2.5), op(tx, 2.5))
        _same(op(x, -3), op(tx, -3))
        _same(op(7, y), op(7, ty))
        _same(op(x, gn.tensor(b, dtype=gn.float)), op(tx, torch.tensor(b, dtype=torch.float32)))
    _same(op(gn.tensor(X), 0.0), op(torch.tensor(X), 0.0))  # float by zero: inf / nan, as torch


@pytest.mark.parametrize("op", [operator.floordiv, operator.mod])
def test_integer_division_by_zero_raises(backend, op):
    i = gn.tensor(I)
    for zero in (0, gn.tensor(np.zeros_like(I))):
        with pytest.raises(ZeroDivisionError):
            op(i, zero).numpy()  # on the GPU the device-side check reports at the next host read
        with pytest.raises(RuntimeError):  # torch's type
            op(i, zero).numpy()


def test_mod_gradient_matches_torch_and_floordiv_has_none(backend):
    torch = torch_or_skip()
    x, y = gn.tensor(X, requires_grad=True), gn.tensor(Y, requires_grad=True)
    tx, ty = torch.tensor(X, requires_grad=True), torch.tensor(Y, requires_grad=True)
    (x % y).sum().backward()
    (tx % ty).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())
    np.testing.assert_array_equal(to_numpy(y.grad), ty.grad.numpy())
    x.grad = None
    (3.0 % x).sum().backward()  # d/db only (torch has no derivative for Scalar % Tensor: compare Tensor % Tensor)
    tx.grad = None
    (torch.full_like(tx, 3.0) % tx).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())
    q = x // 2
    assert q.requires_grad  # as torch: recorded, but its derivative is not implemented
    with pytest.raises(RuntimeError, match="floor_divide"):
        q.sum().backward()
    with gn.no_grad():
        assert not (x // 2).requires_grad


def test_bitwise_operators_match_torch(backend):
    torch = torch_or_skip()
    b = np.array([[True, False, True], [False, False, True]])
    c = np.array([[True, True, False], [False, True, True]])
    for a1, a2 in ((I, J), (b, c), (b, I), (I.astype(np.int32), J)):
        x, y, tx, ty = gn.tensor(a1), gn.tensor(a2), torch.tensor(a1), torch.tensor(a2)
        for op in (operator.and_, operator.or_, operator.xor):
            _same(op(x, y), op(tx, ty))
            _same(op(x, 3), op(tx, 3))
            _same(op(5, x), op(5, tx))
            _same(op(x, True), op(tx, True))
        _same(~x, ~tx)
        _same(x.bitwise_and(y), tx.bitwise_and(ty))
        _same(gn.bitwise_xor(x, y), torch.bitwise_xor(tx, ty))
        _same(gn.bitwise_not(x), torch.bitwise_not(tx))
    xf = gn.tensor(X)
    for f in (lambda: xf & xf, lambda: xf | 1, lambda: 1 ^ xf, lambda: ~xf, lambda: gn.tensor(I) & 1.5):
        with pytest.raises(TypeError, match="bool and integer|integer and bool"):
            f()
    m = (gn.tensor(X) > 0) & (gn.tensor(X) < 5)
    assert m.dtype == np.bool_ and not m.requires_grad


# ---------------------------------------------------------------------------------------------- comparisons
@pytest.mark.parametrize("name", ["lt", "le", "gt", "ge", "eq", "ne", "less", "greater", "less_equal",
                                  "greater_equal", "not_equal"])
def test_comparison_methods_and_functions(backend, name):
    torch = torch_or_skip()
    x, y = gn.tensor(X, requires_grad=True), gn.tensor(Y)
    tx, ty = torch.tensor(X), torch.tensor(Y)
    for res, ref in ((getattr(x, name)(y), getattr(tx, name)(ty)), (getattr(gn, name)(x, 2.0),
                     getattr(torch, name)(tx, 2.0)), (getattr(x, name)(np.float64(0.0)), getattr(tx, name)(0.0)),
                     (getattr(gn.tensor(I), name)(x), getattr(torch.tensor(I), name)(tx))):
        _same(res, ref)
        assert not res.requires_grad and res.grad_fn is None
    if backend.device != "cpu":
        with pytest.raises(gn.backend.DeviceMismatchError):
            getattr(x, name)(Y)
        _same(getattr(x, name)(np.array(2.0)), getattr(tx, name)(2.0))  # a 0-d array acts as a scalar


# ---------------------------------------------------------------------------------------------- predicates
def _nanny():
    return np.array([[1.0, np.nan, -np.inf], [0.0, np.inf, -2.0]])


def test_isnan_isinf_isfinite_nan_to_num(backend):
    torch = torch_or_skip()
    a = _nanny()
    x, tx = gn.tensor(a), torch.tensor(a)
    for name in ("isnan", "isinf", "isfinite"):
        _same(getattr(x, name)(), getattr(tx, name)())
        _same(getattr(gn, name)(gn.tensor(I)), getattr(torch, name)(torch.tensor(I)))
        assert not getattr(gn, name)(gn.tensor(a, requires_grad=True)).requires_grad
    _same(x.nan_to_num(), tx.nan_to_num())
    _same(gn.nan_to_num(gn.tensor(a, dtype=gn.float)), torch.nan_to_num(torch.tensor(a, dtype=torch.float32)))
    _same(gn.nan_to_num(x, nan=2.0, posinf=9.0, neginf=-9.0), torch.nan_to_num(tx, 2.0, 9.0, -9.0))
    _same(gn.nan_to_num(gn.tensor(I)), torch.nan_to_num(torch.tensor(I)))
    w, tw = gn.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (gn.nan_to_num(w) * 0.5).sum().backward()
    (torch.nan_to_num(tw) * 0.5).sum().backward()
    np.testing.assert_array_equal(to_numpy(w.grad), tw.grad.numpy())


@pytest.mark.parametrize("name", ["any", "all"])
def test_any_all(backend, name):
    torch = torch_or_skip()
    a = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])
    x, tx = gn.tensor(a), torch.tensor(a)
    _same(getattr(x, name)(), getattr(tx, name)())
    for dim in (0, 1, -1, (0, 1)):
        for keepdim in (False, True):
            _same(getattr(x, name)(dim, keepdim), getattr(tx, name)(dim, keepdim))
            _same(getattr(gn, name)(x, dim=dim, keepdim=keepdim), getattr(torch, name)(tx, dim=dim,
                                                                                       keepdim=keepdim))
    u = np.array([0, 3], dtype=np.uint8)
    _same(getattr(gn, name)(gn.tensor(u)), getattr(torch, name)(torch.tensor(u)))
    _same(getattr(gn.tensor(I), name)(1), getattr(torch.tensor(I), name)(1))
    for bad in (2, -3, (0, 2)):
        with pytest.raises(IndexError, match=name):
            getattr(x, name)(bad)


def test_count_nonzero(backend):
    torch = torch_or_skip()
    x, tx = gn.tensor(I), torch.tensor(I)
    for dim in (None, 0, 1, -1, (0, 1)):
        _same(x.count_nonzero(dim), tx.count_nonzero(dim))
        _same(gn.count_nonzero(gn.tensor(X), dim=dim), torch.count_nonzero(torch.tensor(X), dim=dim))
    with pytest.raises(IndexError, match="count_nonzero"):
        x.count_nonzero(2)


def test_allclose_and_equal(backend):
    torch = torch_or_skip()
    a = np.array([1.0, 2.0, np.nan])
    pairs = [(a, a + 1e-9), (a, a + 1e-3), (a[:2], a[:2] + 1e-6), (a[:2], np.array([1.0]))]
    for p, q in pairs:
        for eq_nan in (False, True):
            got = gn.allclose(gn.tensor(p), gn.tensor(q), equal_nan=eq_nan)
            assert got is torch.allclose(torch.tensor(p), torch.tensor(q), equal_nan=eq_nan)
        assert gn.tensor(p).allclose(gn.tensor(q), rtol=1e-2) == torch.tensor(p).allclose(torch.tensor(q),
                                                                                          rtol=1e-2)
        assert gn.equal(gn.tensor(p), gn.tensor(q)) is torch.equal(torch.tensor(p), torch.tensor(q))
    assert gn.tensor(I).equal(gn.tensor(I.astype(np.float64))) is torch.equal(torch.tensor(I),
                                                                                torch.tensor(I * 1.0))
    assert gn.equal(gn.ones(2), gn.ones(3)) is False
    with pytest.raises(RuntimeError):
        gn.allclose(gn.tensor(I), gn.tensor(X))  # dtypes differ, as torch refuses
    with pytest.raises(RuntimeError):
        gn.allclose(gn.ones(2), gn.ones(3))


# ---------------------------------------------------------------------------------------------- protocols
def test_format_and_index(backend):
    torch = torch_or_skip()
    for v in (3.14159, -2.5):
        assert f"{gn.tensor(v, dtype=gn.double):.3f}" == f"{torch.tensor(v, dtype=torch.float64):.3f}"
    assert f"{gn.tensor(5):d}" == f"{torch.tensor(5):d}" == "5"
    assert f"{gn.tensor([1.0, 2.0])}" == str(gn.tensor([1.0, 2.0]))
    with pytest.raises(TypeError):
        f"{gn.tensor([1.0, 2.0]):.2f}"
    for v in (3, [4], True):
        assert operator.index(gn.tensor(v)) == operator.index(torch.tensor(v))
    assert [10, 20, 30][gn.tensor(2)] == 30 and list(range(gn.tensor(3))) == [0, 1, 2]
    for bad in (gn.tensor(3.0), gn.tensor([1, 2])):
        with pytest.raises(TypeError, match="single element"):
            operator.index(bad)


# ---------------------------------------------------------------------------------------------- dim= / keepdim=
def test_module_functions_take_dim_and_keepdim(backend):
    torch = torch_or_skip()
    x, tx = gn.tensor(X), torch.tensor(X)
    for f in ("sum", "mean"):
        _same(getattr(gn, f)(x, dim=1), getattr(torch, f)(tx, dim=1), exact=False)
        _same(getattr(gn, f)(x, dim=(0, 1), keepdim=True), getattr(torch, f)(tx, dim=(0, 1), keepdim=True),
              exact=False)
        with pytest.raises(IndexError):
            getattr(gn, f)(x, dim=2)
    for f in ("max", "min"):
        got, ref = getattr(gn, f)(x, dim=0, keepdim=True), getattr(torch, f)(tx, dim=0, keepdim=True)
        _same(got.values, ref.values)
        _same(got.indices, ref.indices)
    _same(gn.amax(x, dim=1, keepdim=True), torch.amax(tx, dim=1, keepdim=True))
    _same(gn.cat([x, x], dim=1), torch.cat([tx, tx], dim=1))
    _same(gn.stack([x, x], dim=-1), torch.stack([tx, tx], dim=-1))
