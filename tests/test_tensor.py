"""Tensor: creation and dtype rules, properties, conversion, Python operators and comparisons."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy

import gpunet as gn


# ---------------------------------------------------------------------------------------------- dtype rules
@pytest.mark.parametrize("data,dtype", [
    (1.5, np.float32), ([1.0, 2.0], np.float32), ([[1, 2.5]], np.float32),
    (3, np.int64), ([1, 2], np.int64), ([True, False], np.bool_),
    (np.ones(2, dtype=np.float64), np.float64), (np.ones(2, dtype=np.float32), np.float32),
    (np.arange(3, dtype=np.int32), np.int32), (np.float64(2.0), np.float64),
])
def test_dtype_rules(backend, data, dtype):
    assert gn.tensor(data).dtype == dtype


@pytest.mark.parametrize("data", [[1, 2], [1.0, 2.0], np.ones(2), np.ones(2, dtype=np.int64)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, "float64", gn.float32, np.int64])
def test_dtype_argument_overrides(backend, data, dtype):
    assert gn.tensor(data, dtype=dtype).dtype == np.dtype(dtype)


def test_default_dtype_can_be_changed_and_restored():
    assert gn.get_default_dtype() == np.float32
    try:
        gn.set_default_dtype(np.float64)
        assert gn.tensor([1.0]).dtype == np.float64
        assert gn.zeros(2).dtype == np.float64
    finally:
        gn.set_default_dtype(np.float32)
    assert gn.tensor([1.0]).dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        gn.set_default_dtype(np.int32)


def test_ragged_data_is_refused():
    with pytest.raises((TypeError, ValueError)):
        gn.tensor([[1.0, 2.0], [3.0]])


def test_tensor_copies_and_as_tensor_shares(backend):
    a = np.ones(3)
    t = gn.tensor(a)
    a[0] = 5
    assert to_numpy(t)[0] == 1
    if backend.name == "numpy":
        s = gn.as_tensor(a)
        a[1] = 7
        assert to_numpy(s)[1] == 7
    u = gn.tensor(t)
    assert u.data is not t.data and u.dtype == t.dtype


# ---------------------------------------------------------------------------------------------- creation
def test_creation_functions(backend):
    assert gn.zeros(2, 3).shape == (2, 3) and gn.zeros((2, 3)).dtype == np.float32
    assert to_numpy(gn.ones(2)).tolist() == [1.0, 1.0]
    assert to_numpy(gn.full((2,), 7.0)).tolist() == [7.0, 7.0]
    assert to_numpy(gn.full(3, 1.0)).shape == (3,)
    assert gn.arange(5).dtype == np.int64 and gn.arange(0.0, 1.0, 0.5).dtype == np.float32
    x = gn.zeros(2, 3, dtype=np.float64)
    assert gn.zeros_like(x).dtype == np.float64 and gn.ones_like(x).shape == (2, 3)
    assert gn.rand(4, 2).shape == (4, 2) and gn.randn(3).dtype == np.float32
    r = gn.rand(1000)
    assert 0.0 <= float(r.min()) and float(r.max()) < 1.0
    assert gn.zeros(2, requires_grad=True).requires_grad


def test_constructor_class():
    t = gn.Tensor([1.0, 2.0], requires_grad=True)
    assert isinstance(t, gn.Tensor) and t.dtype == np.float32 and t.requires_grad and t.is_leaf


# ---------------------------------------------------------------------------------------------- properties
def test_properties(backend):
    t = gn.tensor(np.arange(6.0).reshape(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2 and t.dim() == 2
    assert t.size == 6 and t.numel() == 6 and len(t) == 2
    assert t.dtype == np.float64
    assert t.device == backend.device
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3))
    assert t.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert np.asarray(t).shape == (2, 3)


def test_item_and_python_scalars(backend):
    t = gn.tensor([2.5])
    assert t.item() == 2.5 and isinstance(t.item(), float)
    assert float(t) == 2.5 and int(gn.tensor(3)) == 3 and bool(gn.tensor(1.0))
    with pytest.raises(ValueError, match=r"one element.*\(2,\)"):
        gn.tensor([1.0, 2.0]).item()
    with pytest.raises(TypeError, match="0-d"):
        len(gn.tensor(1.0))


def test_numpy_shares_memory_on_the_cpu():
    t = gn.tensor([1.0, 2.0])
    t.numpy()[0] = 9
    assert to_numpy(t)[0] == 9


def test_to(backend):
    t = gn.tensor([1.0, 2.0])
    assert t.to(backend.device) is t
    assert t.to("cpu").device == "cpu"
    d = t.to(dtype=np.float64)
    assert d.dtype == np.float64 and t.dtype == np.float32
    assert t.to(np.float64).dtype == np.float64
    assert t.double().dtype == np.float64 and d.float().dtype == np.float32
    assert t.to(dtype=np.float32) is t
    with pytest.raises(ValueError, match="unknown backend or device"):
        t.to("tpu")


def test_to_dtype_is_differentiable(backend):
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    (x.to(np.float64) * 3.0).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(x.grad), [3.0, 3.0])


def test_detach_and_clone(backend):
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert d.data is x.data and not d.requires_grad
    c = x.clone()
    assert c.data is not x.data and c.grad_fn is not None
    (c * 2.0).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [2.0, 2.0])


def test_repr(backend):
    dev = "" if backend.device == "cpu" else f", device='{backend.device}'"  # as torch: the device when not cpu
    assert repr(gn.tensor([1.0, 2.0])) == f"tensor([1., 2.]{dev})"
    assert repr(gn.tensor([1.0], requires_grad=True)) == f"tensor([1.]{dev}, requires_grad=True)"
    assert repr(gn.tensor([1, 2])) == f"tensor([1, 2]{dev}, dtype=int64)"
    assert repr(gn.tensor(np.ones(1))) == f"tensor([1.]{dev}, dtype=float64)"
    r = repr(gn.tensor([1.0], requires_grad=True) * 2.0)
    assert r.startswith("tensor([2.]") and "grad_fn=Mul" in r


# ---------------------------------------------------------------------------------------------- operators
OPS = [("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("*", lambda a, b: a * b),
       ("/", lambda a, b: a / b), ("**", lambda a, b: a ** b)]


@pytest.mark.parametrize("name,op", OPS)
def test_operators_with_scalars_on_either_side(backend, name, op):
    xn = np.array([1.0, 2.0, 4.0], dtype=np.float32)
    x = gn.tensor(xn)
    for res, ref in ((op(x, 2.0), op(xn, np.float32(2.0))), (op(2.0, x), op(np.float32(2.0), xn)),
                     (op(x, 2), op(xn, np.float32(2)))):
        assert isinstance(res, gn.Tensor) and res.dtype == np.float32
        np.testing.assert_allclose(to_numpy(res), ref, rtol=1e-6)


@pytest.mark.parametrize("name,op", OPS + [("@", lambda a, b: a @ b)])
def test_operators_with_numpy_arrays_on_either_side(backend, name, op):
    """A NumPy array is host data: with a CPU tensor it works; with a CUDA tensor it is refused, as torch refuses
    mixing devices, naming where each operand is (0-d arrays and NumPy scalars act as scalars on every device)."""
    xn = np.array([[1.0, 2.0], [3.0, 4.0]])
    an = np.array([[0.5, 1.5], [2.0, 3.0]])
    x = gn.tensor(xn)
    if backend.device != "cpu":
        for f in (lambda: op(an, x), lambda: op(x, an)):
            with pytest.raises(gn.backend.DeviceMismatchError, match="cpu.*cuda|cuda.*cpu"):
                f()
        if name != "@":
            np.testing.assert_allclose(to_numpy(op(x, np.array(2.0))), op(xn, 2.0), rtol=1e-12)
    a = an if backend.device == "cpu" else gn.tensor(an)  # moved to the device, it works
    left, right = op(a, x), op(x, a)
    assert isinstance(left, gn.Tensor) and isinstance(right, gn.Tensor)
    np.testing.assert_allclose(to_numpy(left), op(an, xn), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(right), op(xn, an), rtol=1e-12)


def test_numpy_scalars_keep_the_tensor_dtype(backend):
    x = gn.ones(3)
    for s in (np.float64(2.0), np.float32(2.0), np.int64(2)):
        assert (x * s).dtype == np.float32 and (s * x).dtype == np.float32
        assert (x + s).dtype == np.float32 and (x ** s).dtype == np.float32


def test_unary_operators(backend):
    x = gn.tensor([-1.0, 2.0])
    assert to_numpy(-x).tolist() == [1.0, -2.0]
    assert (+x) is x
    assert to_numpy(abs(x)).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("op,ref", [(lambda a, b: a < b, np.less), (lambda a, b: a <= b, np.less_equal),
                                    (lambda a, b: a > b, np.greater), (lambda a, b: a >= b, np.greater_equal),
                                    (lambda a, b: a == b, np.equal), (lambda a, b: a != b, np.not_equal)])
def test_comparisons_give_bool_tensors(backend, op, ref):
    xn, yn = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    x, y = gn.tensor(xn, requires_grad=True), gn.tensor(yn)
    host = yn if backend.device == "cpu" else y  # a NumPy array meets a CUDA tensor only as a device mismatch
    if backend.device != "cpu":
        with pytest.raises(gn.backend.DeviceMismatchError):
            op(x, yn)
    for res, expected in ((op(x, y), ref(xn, yn)), (op(x, 2.0), ref(xn, 2.0)), (op(x, host), ref(xn, yn)),
                          (op(host, x), ref(yn, xn)), (op(x, np.float64(2.0)), ref(xn, 2.0))):
        assert isinstance(res, gn.Tensor) and res.dtype == np.bool_
        assert not res.requires_grad and res.grad_fn is None
        np.testing.assert_array_equal(res.numpy(), expected)


def test_tensors_stay_hashable():
    x = gn.tensor([1.0])
    assert {x: 1}[x] == 1


def test_setitem(backend):
    x = gn.zeros(3)
    x[1] = 5.0
    x[gn.tensor([0, 2])] = gn.tensor([1.0, 2.0])
    assert to_numpy(x).tolist() == [1.0, 5.0, 2.0]
    w = gn.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w[0] = 1.0
    with gn.no_grad():
        w[0] = 1.0
    assert to_numpy(w)[0] == 1.0


def test_argmax_argmin(backend):
    x = gn.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert x.argmax().item() == 3
    assert to_numpy(x.argmax(dim=1)).tolist() == [1, 0]
    assert to_numpy(x.argmin(axis=0)).tolist() == [0, 1, 0]


def test_zero_dim_results_hold_backend_arrays(backend):
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    for t in (x.sum(), (x * x).mean(), x.max(), x.argmax(), x.sum() > 1, gn.tensor(2.0) * 3.0):
        assert backend.is_array(t.data), type(t.data)
    z = gn.tensor(2.0, requires_grad=True)
    (z * z).backward()
    assert backend.is_array(z.grad.data)
    z.grad.zero_()
    assert z.grad.item() == 0.0
