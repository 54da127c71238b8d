"""Activations (gpunet.functional.activation): forward against NumPy float64, backward by gn.gradcheck in float64,
both against PyTorch (float64) where it is installed, and numerical stability at extreme inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip

import gpunet as gn
from gpunet.functional import activation as A
from gpunet.functional import activation_extra as X

_erf = np.vectorize(math.erf)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _softplus(x, beta, threshold):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def _elu(x, alpha):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1))


# name: (gpunet fn, NumPy float64 reference, torch fn (None: no torch gradient), kinks to keep the data away from)
ACTS = {
    "step": (A.step, lambda x: (x > 0).astype(float), None, (0.0,)),
    "identity": (A.identity, lambda x: x, lambda F, t: t.clone(), ()),
    "relu": (A.relu, lambda x: np.maximum(x, 0), lambda F, t: F.relu(t), (0.0,)),
    "leaky_relu": (A.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), lambda F, t: F.leaky_relu(t), (0.0,)),
    "leaky_relu_0.2": (lambda t: A.leaky_relu(t, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
                       lambda F, t: F.leaky_relu(t, 0.2), (0.0,)),
    "elu": (A.elu, lambda x: _elu(x, 1.0), lambda F, t: F.elu(t), ()),
    "elu_1.5": (lambda t: A.elu(t, alpha=1.5), lambda x: _elu(x, 1.5), lambda F, t: F.elu(t, alpha=1.5), (0.0,)),
    "sigmoid": (A.sigmoid, _sigmoid, lambda F, t: F.sigmoid(t), ()),
    "tanh": (A.tanh, np.tanh, lambda F, t: F.tanh(t), ()),
    "gelu": (A.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), lambda F, t: F.gelu(t), ()),
    "gelu_tanh": (lambda t: A.gelu(t, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
                  lambda F, t: F.gelu(t, approximate="tanh"), ()),
    "silu": (A.silu, lambda x: x * _sigmoid(x), lambda F, t: F.silu(t), ()),
    "softplus": (A.softplus, lambda x: _softplus(x, 1.0, 20.0), lambda F, t: F.softplus(t), ()),
    "softplus_b2_t3": (lambda t: A.softplus(t, beta=2.0, threshold=3.0), lambda x: _softplus(x, 2.0, 3.0),
                       lambda F, t: F.softplus(t, beta=2.0, threshold=3.0), (1.5,)),
    "hardtanh": (A.hardtanh, lambda x: np.clip(x, -1, 1), lambda F, t: F.hardtanh(t), (-1.0, 1.0)),
    "hardtanh_-0.5_2": (lambda t: A.hardtanh(t, -0.5, 2.0), lambda x: np.clip(x, -0.5, 2.0),
                        lambda F, t: F.hardtanh(t, -0.5, 2.0), (-0.5, 2.0)),
    "softmax": (A.softmax, lambda x: _softmax(x, -1), lambda F, t: F.softmax(t, dim=-1), ()),
    "softmax_dim0": (lambda t: A.softmax(t, 0), lambda x: _softmax(x, 0), lambda F, t: F.softmax(t, dim=0), ()),
    "log_softmax": (A.log_softmax, lambda x: _log_softmax(x, -1), lambda F, t: F.log_softmax(t, dim=-1), ()),
    "log_softmax_dim0": (lambda t: A.log_softmax(t, 0), lambda x: _log_softmax(x, 0),
                         lambda F, t: F.log_softmax(t, dim=0), ()),
    "maxout": (lambda t: A.maxout(t, 2), lambda x: x.reshape(3, 2, 2).max(-1),
               lambda F, t: t.reshape(3, 2, 2).max(-1).values, ()),
    "relu6": (X.relu6, lambda x: np.clip(x, 0, 6), lambda F, t: F.relu6(t), (0.0,)),
    "selu": (X.selu, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
             lambda F, t: F.selu(t), (0.0,)),
    "mish": (X.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), lambda F, t: F.mish(t), ()),
    "hardswish": (X.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6, lambda F, t: F.hardswish(t), (-3.0, 3.0)),
    "logsigmoid": (X.logsigmoid, lambda x: -np.log1p(np.exp(-x)), lambda F, t: F.logsigmoid(t), ()),
    "glu": (X.glu, lambda x: x[..., :2] * _sigmoid(x[..., 2:]), lambda F, t: F.glu(t), ()),
}
SMOOTH = [k for k, v in ACTS.items() if k != "step"]


def data(rng, name, shape=(3, 4)):
    """Values in [-3, 3], at least 0.1 away from the activation's kinks (and, for maxout, without ties)."""
    x = rng.uniform(-3.0, 3.0, shape)
    for k in ACTS[name][3]:
        near = np.abs(x - k) < 0.1
        x[near] = k + np.where(x[near] >= k, 0.2, -0.2)
    return x


def leaf(x) -> gn.Tensor:
    return gn.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)


# ---------------------------------------------------------------------------------------------- forward, backward
@pytest.mark.parametrize("name", list(ACTS))
def test_forward_matches_numpy_reference(backend, rng, name):
    fn, ref = ACTS[name][:2]
    x = data(rng, name)
    out = fn(leaf(x))
    assert out.dtype == np.float64
    np.testing.assert_allclose(to_numpy(out), ref(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(ACTS))
def test_float32_stays_float32(backend, rng, name):
    fn, ref = ACTS[name][:2]
    x = data(rng, name).astype(np.float32)
    out = fn(gn.tensor(x, requires_grad=True))
    assert out.dtype == np.float32
    np.testing.assert_allclose(to_numpy(out), ref(x.astype(np.float64)), rtol=2e-6, atol=2e-6)
    out.sum().backward()


@pytest.mark.parametrize("name", list(ACTS))
def test_gradcheck(backend, rng, name):
    assert gn.gradcheck(ACTS[name][0], [leaf(data(rng, name))])


@pytest.mark.parametrize("name", list(ACTS))
def test_input_is_not_modified(backend, rng, name):
    x = data(rng, name)
    t = leaf(x)
    ACTS[name][0](t).sum().backward()
    np.testing.assert_array_equal(to_numpy(t), x)


@pytest.mark.torch
@pytest.mark.parametrize("name", SMOOTH)
def test_forward_and_gradient_match_torch(backend, rng, name):
    torch = torch_or_skip()
    fn, _, tfn, _ = ACTS[name]
    x = data(rng, name)
    out = fn(leaf(x))
    g = rng.standard_normal(out.shape)
    t = leaf(x)
    out = fn(t)
    out.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    tout = tfn(torch.nn.functional, tx)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_numpy(t.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_step_matches_torch_heaviside(backend, rng):
    torch = torch_or_skip()
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0])
    expect = torch.heaviside(torch.tensor(x), torch.tensor(1.0, dtype=torch.float64)).numpy()  # step(0) = 1
    np.testing.assert_array_equal(to_numpy(A.step(leaf(x))), expect)


def test_step_is_one_at_zero(backend):
    """The seed material's step(x) = 1 for x ≥ 0 (it was 0 at 0)."""
    x = np.array([-1.0, -0.0, 0.0, 2.0])
    np.testing.assert_array_equal(to_numpy(A.step(leaf(x))), [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(to_numpy(gn.nn.Step()(gn.tensor(x))), [0.0, 1.0, 1.0, 1.0])


# ---------------------------------------------------------------------------------------------- specifics
def test_step_gradient_is_zero(backend, rng):
    t = leaf(rng.uniform(-2, 2, (3, 4)))
    A.step(t).sum().backward()
    np.testing.assert_array_equal(to_numpy(t.grad), np.zeros((3, 4)))


def test_relu_gradient_at_zero_is_zero_like_torch(backend):
    t = leaf([-1.0, 0.0, 2.0])
    A.relu(t).sum().backward()
    np.testing.assert_array_equal(to_numpy(t.grad), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2, -3])
@pytest.mark.parametrize("fn, ref", [(A.softmax, _softmax), (A.log_softmax, _log_softmax)])
def test_softmax_any_dim(backend, rng, fn, ref, dim):
    x = rng.standard_normal((2, 3, 4))
    out = fn(leaf(x), dim)
    np.testing.assert_allclose(to_numpy(out), ref(x, dim), rtol=1e-12, atol=1e-14)
    assert gn.gradcheck(lambda t: fn(t, dim), [leaf(x)])


def test_softmax_sums_to_one_and_log_softmax_exponentiates_to_it(backend, rng):
    x = leaf(rng.standard_normal((5, 7)) * 10)
    np.testing.assert_allclose(to_numpy(A.softmax(x, dim=1)).sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.exp(to_numpy(A.log_softmax(x, dim=1))).sum(axis=1), 1.0, rtol=1e-14)


def test_softmax_dtype_argument_casts_first(backend, rng):
    x = gn.tensor(rng.standard_normal((2, 3)).astype(np.float32))
    assert A.softmax(x, 1, dtype=np.float64).dtype == np.float64
    assert A.log_softmax(x, 1, dtype=np.float64).dtype == np.float64


def test_softmax_dim_out_of_range_says_the_valid_range(backend):
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(IndexError, match=r"dim 2 is out of range.*\[-2, 1\]"):
        A.softmax(x, 2)
    with pytest.raises(IndexError, match=r"dim -3"):
        A.log_softmax(x, -3)


def test_softmax_of_a_0d_tensor_is_one(backend):
    assert A.softmax(leaf(3.0), 0).item() == 1.0
    assert A.log_softmax(leaf(3.0), -1).item() == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [A.softmax, A.log_softmax])
def test_softmax_stable_for_huge_logits(backend, dtype, fn):
    x = gn.tensor(np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype),
                  requires_grad=True)
    out = fn(x, dim=1)
    out.backward(np.ones((2, 3)))
    assert np.isfinite(to_numpy(out)).all() and np.isfinite(to_numpy(x.grad)).all()
    x64 = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    ref = _softmax(x64, 1) if fn is A.softmax else _log_softmax(x64, 1)
    np.testing.assert_allclose(to_numpy(out), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_stable_at_extremes(backend, dtype):
    x = gn.tensor(np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow warning either
        y = A.sigmoid(x)
        y.sum().backward()
    yn, gn_ = to_numpy(y), to_numpy(x.grad)
    assert np.isfinite(yn).all() and np.isfinite(gn_).all()
    assert yn[0] == 0.0 and yn[2] == 0.5 and yn[-1] == 1.0
    assert gn_[0] == 0.0 and gn_[2] == 0.25 and gn_[-1] == 0.0


@pytest.mark.parametrize("fn", [A.silu, A.softplus, A.elu, A.tanh, A.gelu, lambda t: A.gelu(t, "tanh")])
def test_other_activations_finite_at_extremes(backend, fn):
    x = gn.tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), requires_grad=True)
    y = fn(x)
    y.sum().backward()
    assert np.isfinite(to_numpy(y)).all() and np.isfinite(to_numpy(x.grad)).all()


def test_softplus_is_linear_above_the_threshold(backend):
    x = leaf([25.0, 100.0])
    y = A.softplus(x)
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(y), [25.0, 100.0])
    np.testing.assert_array_equal(to_numpy(x.grad), [1.0, 1.0])


def test_gelu_rejects_unknown_approximation(backend):
    with pytest.raises(ValueError, match=r"approximate='erf'.*'none'.*'tanh'"):
        A.gelu(leaf([1.0]), approximate="erf")


def test_hardtanh_rejects_inverted_bounds(backend):
    with pytest.raises(ValueError, match="min_val"):
        A.hardtanh(leaf([1.0]), 1.0, -1.0)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "silu", "hardtanh", "relu6", "selu", "mish",
                                  "hardswish"])
def test_inplace_writes_into_the_input_as_torch(backend, name):
    """inplace=True used to be accepted and ignored (a new tensor): code that read the input afterwards got the
    old values. Now it writes into the input, recorded in the graph, as torch."""
    torch = torch_or_skip()
    fn = getattr(X, name, None) or getattr(A, name)
    a = np.array([-1.5, -0.2, 0.3, 2.5])
    x = leaf(a)
    h = x * 1.0
    y = fn(h, inplace=True)
    assert y is h
    (h * h).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    th = tx * 1.0
    getattr(torch.nn.functional, name)(th, inplace=True)
    (th * th).sum().backward()
    np.testing.assert_allclose(to_numpy(h), th.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        fn(leaf(a), inplace=True)                        # torch refuses this too


def test_prelu_matches_torch_per_channel_and_shared(backend):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 4))
    for n in (1, 3):
        m = gn.nn.PReLU(n).to(np.float64)
        tm = torch.nn.PReLU(n).double()
        x, tx = leaf(a), torch.tensor(a, requires_grad=True)
        (m(x) ** 2).sum().backward()
        (tm(tx) ** 2).sum().backward()
        np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(to_numpy(m.weight.grad), tm.weight.grad.numpy(), rtol=1e-12)
        assert list(m.state_dict()) == list(tm.state_dict()) == ["weight"]
    with pytest.raises(RuntimeError, match="channels"):
        gn.nn.PReLU(5)(leaf(a))
    with pytest.raises(RuntimeError, match="even"):
        X.glu(leaf(np.zeros((2, 3))))


# ---------------------------------------------------------------------------------------------- maxout
def test_maxout_takes_the_max_over_consecutive_pieces(backend):
    x = leaf([[1.0, 5.0, 2.0, -3.0, 0.5, 0.25]])  # out=2, pieces=3: groups (1, 5, 2) and (-3, 0.5, 0.25)
    y = A.maxout(x, 3)
    np.testing.assert_array_equal(to_numpy(y), [[5.0, 0.5]])
    y.backward(np.array([[2.0, 7.0]]))
    np.testing.assert_array_equal(to_numpy(x.grad), [[0.0, 2.0, 0.0, 0.0, 7.0, 0.0]])


def test_maxout_keeps_leading_dims_and_passes_gradcheck(backend, rng):
    x = rng.permutation(24).reshape(2, 3, 4) * 0.25  # distinct values: no ties
    y = A.maxout(leaf(x), 2)
    assert y.shape == (2, 3, 2)
    np.testing.assert_array_equal(to_numpy(y), x.reshape(2, 3, 2, 2).max(-1))
    assert gn.gradcheck(lambda t: A.maxout(t, 2), [leaf(x)])


def test_maxout_one_piece_is_identity(backend, rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(to_numpy(A.maxout(leaf(x), 1)), x)


@pytest.mark.parametrize("pieces", [0, -1, 2.0])
def test_maxout_rejects_bad_pieces(backend, pieces):
    with pytest.raises(ValueError, match="pieces must be a positive int"):
        A.maxout(leaf(np.zeros((2, 4))), pieces)


def test_maxout_rejects_a_width_not_divisible_by_pieces(backend):
    with pytest.raises(ValueError, match=r"shape \(2, 5\).*multiple of pieces=2"):
        A.maxout(leaf(np.zeros((2, 5))), 2)


# ---------------------------------------------------------------------------------------------- wiring
def test_tensor_methods_call_the_activations(backend, rng):
    x = rng.standard_normal((2, 3))
    t = leaf(x)
    np.testing.assert_array_equal(to_numpy(t.relu()), to_numpy(A.relu(t)))
    np.testing.assert_array_equal(to_numpy(t.sigmoid()), to_numpy(A.sigmoid(t)))
    np.testing.assert_array_equal(to_numpy(t.tanh()), to_numpy(A.tanh(t)))
    np.testing.assert_array_equal(to_numpy(t.softmax(0)), to_numpy(A.softmax(t, 0)))


def test_no_graph_under_no_grad(backend, rng):
    t = leaf(rng.standard_normal(3))
    with gn.no_grad():
        y = A.sigmoid(t)
    assert not y.requires_grad and y.grad_fn is None


def test_all_names_are_exported():
    for name in A.__all__:
        assert callable(getattr(A, name))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1024,), (3, 517), (2, 4, 400, 700)])  # the last one splits over threads
def test_cpu_relu_kernel_matches_reference(monkeypatch, dtype, shape):
    """The NumPy backend's compiled ReLU (one pass writing output and mask; backward from the mask), with NaN,
    ±inf and -0.0 among the inputs, against max(x, 0) / g·(x > 0), over 1 and 2 threads."""
    import gpunet as gn
    from gpunet.backend import _parallel

    gn.use("numpy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    flat[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, -np.nan]
    g = rng.standard_normal(shape).astype(dtype)
    for threads in (1, 2):
        monkeypatch.setattr(_parallel, "NUM_THREADS", threads)
        t = gn.tensor(x, requires_grad=True)
        y = gn.functional.relu(t)
        y.backward(gn.tensor(g))
        np.testing.assert_array_equal(y.numpy(), np.maximum(x, 0))
        np.testing.assert_array_equal(t.grad.numpy(), np.where(x > 0, g, 0))
        assert y.dtype == t.grad.dtype == dtype
