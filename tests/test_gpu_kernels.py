"""The CuPy backend's fused CUDA kernels against the xp reference of the Backend base class, on the GPU.

Every output the kernels allocate is poisoned first (NaN, or 0xFF bytes for masks and integers), so an element a
kernel forgets to write shows up. Sizes are awkward on purpose (1, 7, 1023, 4097 rows; odd feature counts) so
partial blocks, several rows of blocks and single-row grids are all exercised. Without a GPU they run on the CUDA
emulator (tests/cuda_emulator), in each of its three thread orders.
"""
from __future__ import annotations

import numpy as np
import pytest

from gpunet import backend as B
from gpunet.backend.base import Backend

pytestmark = pytest.mark.gpu

try:
    from cuda_emulator import emulator as _emulator
    from cuda_emulator.activate import emulating
    ORDERS = list(_emulator.ORDERS) if emulating() else [None]
except ImportError:  # the tests folder without its emulator
    ORDERS = [None]


@pytest.fixture(autouse=True, params=ORDERS, ids=lambda o: o or "device")
def thread_order(request):
    """On the CUDA emulator, every kernel test runs with blocks and threads forward, reversed and shuffled (a
    missing barrier or a race between blocks then shows); on a real GPU, once."""
    if request.param is None:
        yield None
        return
    _emulator.set_order(request.param)
    yield request.param
    _emulator.set_order(None)

ROWS = [1, 7, 1023, 4097]
DTYPES = [np.float32, np.float64]
ACTS = list(Backend.FUSED_ACTIVATIONS)


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if np.dtype(dtype) == np.float32 else dict(rtol=1e-11, atol=1e-11)


def sum_tol(dtype, terms):
    """Tolerance for sums of ``terms`` O(1) values (another summation order rounds differently)."""
    if np.dtype(dtype) == np.float32:
        return dict(rtol=1e-4, atol=1e-5 * terms ** 0.5)
    return dict(rtol=1e-10, atol=1e-12 * terms ** 0.5)


class _PoisonXP:
    """Wraps the array module so that empty/empty_like hand out poisoned arrays."""

    def __init__(self, xp):
        self._xp = xp

    def __getattr__(self, name):
        return getattr(self._xp, name)

    def _poison(self, a):
        if a.dtype.kind == "f":
            a.fill(np.nan)
        else:
            a.view(np.uint8).fill(0xFF)
        return a

    def empty(self, *args, **kwargs):
        return self._poison(self._xp.empty(*args, **kwargs))

    def empty_like(self, *args, **kwargs):
        return self._poison(self._xp.empty_like(*args, **kwargs))


@pytest.fixture
def gpu(monkeypatch):
    """The CuPy backend, with poisoned allocations."""
    be = B.get("cupy")
    monkeypatch.setattr(be, "xp", _PoisonXP(be.xp))
    return be


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def host(a):
    return None if a is None else (a.get() if hasattr(a, "get") else np.asarray(a))


def close(got, want, dtype, **kw):
    args = {**tol(dtype), **kw}
    if want is None:
        assert got is None
        return
    got, want = host(got), host(want)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, **args)


def dev(gpu, a, dtype=None):
    """A fresh device copy of host data."""
    return gpu.xp.array(np.asarray(a, dtype=dtype))


# ------------------------------------------------------------------------------------------------ linear
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("act", ACTS)
def test_linear_act_matches_reference(gpu, rng, dtype, rows, act):
    fin, fout = 13, 37
    x = dev(gpu, rng.standard_normal((rows, fin)), dtype)
    W = dev(gpu, rng.standard_normal((fout, fin)) / 3, dtype)
    b = dev(gpu, rng.standard_normal(fout), dtype)
    alpha = 0.2
    y, saved = gpu.linear_act_forward(x, W, b, act, alpha)
    y_ref, saved_ref = Backend.linear_act_forward(gpu, x, W, b, act, alpha)
    close(y, y_ref, dtype)
    if act in ("relu", "leaky_relu"):
        assert saved.dtype == np.bool_
        np.testing.assert_array_equal(host(saved), host(saved_ref))
    else:
        close(saved, saved_ref, dtype)
    gy = dev(gpu, rng.standard_normal((rows, fout)), dtype)
    for need in [(True, True, True), (False, True, True), (True, False, False), (False, False, True)]:
        got = gpu.linear_act_backward(x, W, saved, gy, act, alpha, *need)
        want = Backend.linear_act_backward(gpu, x, W, saved_ref, gy, act, alpha, *need)
        for g, w in zip(got, want):
            close(g, w, dtype, **sum_tol(dtype, rows))


@pytest.mark.parametrize("act", ACTS)
def test_linear_nan_propagates_as_reference(gpu, rng, act):
    x = dev(gpu, rng.standard_normal((7, 4)), np.float32)
    x[3, 1] = np.nan  # relu keeps NaN, as torch
    W = dev(gpu, rng.standard_normal((5, 4)), np.float32)
    y, _ = gpu.linear_act_forward(x, W, None, act, 0.1)
    y_ref, _ = Backend.linear_act_forward(gpu, x, W, None, act, 0.1)
    assert np.isnan(host(y)[3]).all()
    close(y, y_ref, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_no_bias_and_broadcast_grad(gpu, rng, dtype):
    x = dev(gpu, rng.standard_normal((1023, 5)), dtype)
    W = dev(gpu, rng.standard_normal((3, 5)), dtype)
    y, saved = gpu.linear_act_forward(x, W, None, "gelu", 0.01)
    y_ref, saved_ref = Backend.linear_act_forward(gpu, x, W, None, "gelu", 0.01)
    close(y, y_ref, dtype)
    gy = gpu.xp.broadcast_to(dev(gpu, rng.standard_normal(3), dtype), (1023, 3))  # stride-0 rows
    got = gpu.linear_act_backward(x, W, saved, gy, "gelu", 0.01)
    want = Backend.linear_act_backward(gpu, x, W, saved_ref, gy, "gelu", 0.01)
    for g, w in zip(got, want):
        close(g, w, dtype)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "silu"])
def test_linear_saved_is_interchangeable_with_reference(gpu, rng, act):
    x = dev(gpu, rng.standard_normal((7, 4)), np.float64)
    W = dev(gpu, rng.standard_normal((3, 4)), np.float64)
    b = dev(gpu, rng.standard_normal(3), np.float64)
    gy = dev(gpu, rng.standard_normal((7, 3)), np.float64)
    _, saved = gpu.linear_act_forward(x, W, b, act)
    _, saved_ref = Backend.linear_act_forward(gpu, x, W, b, act)
    for g, w in zip(gpu.linear_act_backward(x, W, saved_ref, gy, act),
                    Backend.linear_act_backward(gpu, x, W, saved, gy, act)):
        close(g, w, np.float64)


def test_linear_falls_back_for_other_dtypes_and_takes_strided_input(gpu, rng):
    x16 = dev(gpu, rng.standard_normal((7, 4)), np.float16)
    W16 = dev(gpu, rng.standard_normal((3, 4)), np.float16)
    y, _ = gpu.linear_act_forward(x16, W16, None, "relu")
    y_ref, _ = Backend.linear_act_forward(gpu, x16, W16, None, "relu")
    np.testing.assert_array_equal(host(y), host(y_ref))
    xt = dev(gpu, rng.standard_normal((4, 7)), np.float32).T  # not C-contiguous: cuBLAS takes it (fused path)
    W = dev(gpu, rng.standard_normal((3, 4)), np.float32)
    y, _ = gpu.linear_act_forward(xt, W, None, "tanh")
    close(y, Backend.linear_act_forward(gpu, xt, W, None, "tanh")[0], np.float32)


# ------------------------------------------------------------------------------------------------ batch norm
def _bn_inputs(gpu, rng, rows, cols, dtype, affine, offset=0.0, scale=1.0):
    x = dev(gpu, offset + scale * rng.standard_normal((rows, cols)), dtype)
    gamma = dev(gpu, rng.standard_normal(cols), dtype) if affine else None
    beta = dev(gpu, rng.standard_normal(cols), dtype) if affine else None
    rm = dev(gpu, rng.standard_normal(cols), dtype)
    rv = dev(gpu, 0.5 + rng.random(cols), dtype)
    return x, gamma, beta, rm, rv


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [2, 7, 1023, 4097])
@pytest.mark.parametrize("cols", [1, 3, 37])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_train_matches_reference(gpu, rng, dtype, rows, cols, affine):
    x, gamma, beta, rm, rv = _bn_inputs(gpu, rng, rows, cols, dtype, affine, offset=3.0, scale=2.0)
    rm_ref, rv_ref = rm.copy(), rv.copy()
    y, saved = gpu.batchnorm_forward(x, gamma, beta, rm, rv, True, 0.1, 1e-5)
    y_ref, saved_ref = Backend.batchnorm_forward(gpu, x, gamma, beta, rm_ref, rv_ref, True, 0.1, 1e-5)
    loose = dict(rtol=2e-4, atol=2e-4) if np.dtype(dtype) == np.float32 else {}
    close(y, y_ref, dtype, **loose)
    close(saved[0], saved_ref[0], dtype, **loose)
    close(saved[1], saved_ref[1], dtype, **loose)
    close(rm, rm_ref, dtype, **loose)
    close(rv, rv_ref, dtype, **loose)
    gy = dev(gpu, rng.standard_normal((rows, cols)), dtype)
    for need_x, need_affine in [(True, True), (True, False), (False, True)]:
        got = gpu.batchnorm_backward(saved, gamma, gy, True, need_x, need_affine)
        want = Backend.batchnorm_backward(gpu, saved_ref, gamma, gy, True, need_x, need_affine)
        for g, w in zip(got, want):
            close(g, w, dtype, **loose)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_eval_matches_reference(gpu, rng, dtype, rows, affine):
    x, gamma, beta, rm, rv = _bn_inputs(gpu, rng, rows, 37, dtype, affine)
    rm0, rv0 = host(rm).copy(), host(rv).copy()
    y, saved = gpu.batchnorm_forward(x, gamma, beta, rm, rv, False, 0.1, 1e-5)
    y_ref, saved_ref = Backend.batchnorm_forward(gpu, x, gamma, beta, rm, rv, False, 0.1, 1e-5)
    close(y, y_ref, dtype)
    np.testing.assert_array_equal(host(rm), rm0)  # evaluation leaves the running statistics alone
    np.testing.assert_array_equal(host(rv), rv0)
    gy = dev(gpu, rng.standard_normal((rows, 37)), dtype)
    for need_x, need_affine in [(True, True), (True, False), (False, True)]:
        got = gpu.batchnorm_backward(saved, gamma, gy, False, need_x, need_affine)
        want = Backend.batchnorm_backward(gpu, saved_ref, gamma, gy, False, need_x, need_affine)
        for g, w in zip(got, want):
            close(g, w, dtype)


def test_batchnorm_without_running_stats(gpu, rng):
    x, gamma, beta, _, _ = _bn_inputs(gpu, rng, 4097, 5, np.float64, True)
    y, _ = gpu.batchnorm_forward(x, gamma, beta, None, None, True, 0.1, 1e-5)
    close(y, Backend.batchnorm_forward(gpu, x, gamma, beta, None, None, True, 0.1, 1e-5)[0], np.float64)


@pytest.mark.parametrize("rows", [7, 4097, 100_003])
def test_batchnorm_float32_large_mean_is_accurate(gpu, rng, rows):
    """x = 1e4 + N(0, 1) in float32: shifted Welford + Chan keep the variance to ~1e-7 (E[x²] − E[x]² in float32
    loses it entirely: relative errors of 100 and more)."""
    cols = 37
    x64 = 1e4 + rng.standard_normal((rows, cols))
    x = dev(gpu, x64, np.float32)
    xs = host(x).astype(np.float64)  # the float32 values, exactly, in float64
    rm = dev(gpu, np.zeros(cols), np.float32)
    rv = dev(gpu, np.ones(cols), np.float32)
    y, (xhat, invstd) = gpu.batchnorm_forward(x, None, None, rm, rv, True, 1.0, 1e-5)
    mean, var = xs.mean(axis=0), xs.var(axis=0)
    np.testing.assert_allclose(host(invstd), 1 / np.sqrt(var + 1e-5), rtol=1e-5)
    np.testing.assert_allclose(host(rv), xs.var(axis=0, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(host(rm), mean, rtol=1e-6)
    # y is limited by float32's rounding of the mean itself (ulp(1e4)/2 ≈ 5e-4, times invstd ≈ 1)
    np.testing.assert_allclose(host(y), (xs - mean) / np.sqrt(var + 1e-5), atol=2e-3)


# ------------------------------------------------------------------------------------------------ softmax + xent
# every rows x cols but 4097 x 1037 (20 s on the emulator): long rows run at 1023 rows, 4097 rows at 10 columns
XENT_SHAPES = [(r, c) for r in ROWS for c in (1, 3, 10, 1037) if r * c <= 1 << 22]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,cols", XENT_SHAPES)
def test_softmax_xent_matches_reference(gpu, rng, dtype, rows, cols):
    z = 5 * rng.standard_normal((rows, cols))
    z[0] += 1e4 if np.dtype(dtype) == np.float64 else 50.0  # large logits stay finite
    logits = dev(gpu, z, dtype)
    target = dev(gpu, rng.integers(0, cols, rows), np.int64)
    loss, probs = gpu.softmax_xent_forward(logits, target)
    loss_ref, probs_ref = Backend.softmax_xent_forward(gpu, logits, target)
    close(loss, loss_ref, dtype, atol=1e-4 if np.dtype(dtype) == np.float32 else 1e-11)
    close(probs, probs_ref, dtype)
    g = dev(gpu, rng.standard_normal(rows), dtype)
    close(gpu.softmax_xent_backward(probs, target, g), Backend.softmax_xent_backward(gpu, probs_ref, target, g),
          dtype)


def test_softmax_xent_int32_target_and_broadcast_grad(gpu, rng):
    logits = dev(gpu, rng.standard_normal((1023, 7)), np.float64)
    target = dev(gpu, rng.integers(0, 7, 1023), np.int32)
    loss, probs = gpu.softmax_xent_forward(logits, target)
    loss_ref, probs_ref = Backend.softmax_xent_forward(gpu, logits, target)
    close(loss, loss_ref, np.float64)
    g = gpu.xp.broadcast_to(dev(gpu, 1 / 1023, np.float64), (1023,))
    close(gpu.softmax_xent_backward(probs, target, g),
          Backend.softmax_xent_backward(gpu, probs_ref, target, g), np.float64)


# ------------------------------------------------------------------------------------------------ optimizers
OPTIM_CASES = [
    ("sgd", dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-2, nesterov=True, maximize=False)),
    ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.0, nesterov=False, maximize=True)),
    ("adam", dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False)),
    ("adam", dict(lr=1e-2, beta1=0.3, beta2=0.99, eps=1e-6, weight_decay=0.1, amsgrad=True, decoupled=False,
                  maximize=True)),
    ("adam", dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=True, decoupled=True)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, eps=1e-10)),
    ("adagrad", dict(lr=0.1, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=True)),
    ("rmsprop", dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False)),
    ("rmsprop", dict(lr=1e-2, alpha=0.3, eps=1e-8, weight_decay=0.1, momentum=0.9, centered=True,
                     maximize=True)),
    ("adadelta", dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0)),
    ("adadelta", dict(lr=0.5, rho=0.95, eps=1e-6, weight_decay=0.1, maximize=True)),
]
STATE = {"sgd": ["momentum_buffer"], "adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"], "adagrad": ["sum"],
         "rmsprop": ["square_avg", "grad_avg", "momentum_buffer"], "adadelta": ["square_avg", "acc_delta"]}


def _run_optimizer(update, xp, name, opts, param, grads, state):
    for t, grad in enumerate(grads, start=1):
        if name == "sgd":
            update(xp, param, grad, state["momentum_buffer"] if opts["momentum"] else None, opts["lr"],
                   opts["momentum"], opts["dampening"], opts["weight_decay"], opts["nesterov"], opts["maximize"],
                   t == 1)
        elif name == "adam":
            update(xp, param, grad, state["exp_avg"], state["exp_avg_sq"],
                   state["max_exp_avg_sq"] if opts["amsgrad"] else None, t, **opts)
        elif name == "adagrad":
            update(xp, param, grad, state["sum"], t, **opts)
        elif name == "rmsprop":
            update(xp, param, grad, state["square_avg"], state["grad_avg"] if opts["centered"] else None,
                   state["momentum_buffer"] if opts["momentum"] > 0 else None, **opts)
        else:
            update(xp, param, grad, state["square_avg"], state["acc_delta"], **opts)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7, 5), (4097, 3)])
@pytest.mark.parametrize("case", range(len(OPTIM_CASES)))
def test_optimizer_kernel_matches_generic_update(gpu, rng, dtype, shape, case):
    from gpunet.optim import _functional

    name, opts = OPTIM_CASES[case]
    kernel = gpu.optimizer_kernel(name)
    assert kernel is not None
    reference = getattr(_functional, f"{name}_update")
    xp = gpu.xp
    p0 = rng.standard_normal(shape)
    grads = [dev(gpu, rng.standard_normal(shape), dtype) for _ in range(4)]
    runs = []
    for update in (kernel, reference):
        param = dev(gpu, p0, dtype)
        state = {k: xp.zeros(shape, dtype=dtype) for k in STATE[name]}
        _run_optimizer(update, xp, name, opts, param, grads, state)
        runs.append((param, state))
    (p_k, s_k), (p_r, s_r) = runs
    loose = dict(rtol=1e-5, atol=1e-6) if np.dtype(dtype) == np.float32 else {}
    close(p_k, p_r, dtype, **loose)
    for k in STATE[name]:
        close(s_k[k], s_r[k], dtype, **loose)


def test_optimizer_kernel_unknown_name_and_fallback(gpu, rng):
    assert gpu.optimizer_kernel("lbfgs") is None
    kernel = gpu.optimizer_kernel("sgd")
    param = dev(gpu, rng.standard_normal(5), np.float16)
    want = param.astype(np.float32) - np.float32(0.1) * dev(gpu, np.ones(5), np.float32)
    kernel(gpu.xp, param, dev(gpu, np.ones(5), np.float16), None, 0.1, 0.0, 0.0, 0.0, False, False, False)
    np.testing.assert_allclose(host(param).astype(np.float32), host(want), rtol=1e-2)


def test_optimizer_kernel_does_not_write_grad(gpu, rng):
    kernel = gpu.optimizer_kernel("adam")
    xp = gpu.xp
    param = dev(gpu, rng.standard_normal(33), np.float32)
    grad = dev(gpu, rng.standard_normal(33), np.float32)
    g0 = host(grad).copy()
    kernel(xp, param, grad, xp.zeros(33, np.float32), xp.zeros(33, np.float32), None, 1, 1e-3, 0.9, 0.999, 1e-8,
           0.1, False, False, True)
    np.testing.assert_array_equal(host(grad), g0)
