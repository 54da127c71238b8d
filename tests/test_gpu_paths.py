"""Which path the CuPy backend takes, and what it allocates: the fused kernels for any GEMM-operand layout, no
launch that changes nothing, dz written over a gradient the caller gives away, and the deterministic (fixed-order)
column reductions of ``gpunet.use_deterministic_algorithms``. On the CUDA emulator without a GPU.
"""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from gpunet import backend as B
from gpunet.backend import _kernels as K
from gpunet.backend.base import Backend
from gpunet.functional import _act_math as am

pytestmark = pytest.mark.gpu

try:
    from cuda_emulator import emulator as _emulator
    from cuda_emulator.activate import emulating
    ORDERS = list(_emulator.ORDERS) if emulating() else [None]
except ImportError:  # the tests folder without its emulator
    _emulator, ORDERS = None, [None]

DTYPES = [np.float32, np.float64]


@pytest.fixture
def gpu():
    return B.get("cupy")


@pytest.fixture
def rng():
    return np.random.default_rng(11)


@pytest.fixture
def launches(monkeypatch):
    """The names of the kernels the backend launches (on a GPU as on the emulator)."""
    names = []
    real = K.kernel

    def kernel(name):
        lazy = real(name)

        def by_dtype(dtype):
            fn = lazy(dtype)

            def launch(*args, **kwargs):
                names.append(name)
                return fn(*args, **kwargs)
            return launch
        return by_dtype

    monkeypatch.setattr(K, "kernel", kernel)
    return names


@pytest.fixture
def deterministic():
    prev = gn.are_deterministic_algorithms_enabled()
    gn.use_deterministic_algorithms(True)
    yield
    gn.use_deterministic_algorithms(prev)


@pytest.fixture(autouse=True)
def _order_reset():
    yield
    if _emulator is not None:
        _emulator.set_order(None)


class _CountingXP:
    """The array module, recording the shape of every array that empty/empty_like/zeros hands out."""

    def __init__(self, xp):
        self._xp, self.shapes = xp, []

    def __getattr__(self, name):
        return getattr(self._xp, name)

    def _seen(self, a):
        self.shapes.append(a.shape)
        return a

    def empty(self, *args, **kwargs):
        return self._seen(self._xp.empty(*args, **kwargs))

    def empty_like(self, *args, **kwargs):
        return self._seen(self._xp.empty_like(*args, **kwargs))

    def zeros(self, *args, **kwargs):
        return self._seen(self._xp.zeros(*args, **kwargs))


def host(a):
    return None if a is None else (a.get() if hasattr(a, "get") else np.asarray(a))


def dev(gpu, a, dtype):
    return gpu.xp.array(np.asarray(a, dtype=dtype))


def close(got, want, dtype, rtol=None):
    if want is None:
        assert got is None
        return
    r = rtol or (2e-5 if np.dtype(dtype) == np.float32 else 1e-11)
    got, want = host(got), host(want)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=r, atol=r)


# ------------------------------------------------------------------------------------------------ A: overwrite_grad
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["relu", "sigmoid", "gelu"])
def test_overwrite_grad_writes_dz_over_the_gradient(gpu, rng, monkeypatch, dtype, act):
    rows, fin, fout = 1023, 6, 9
    x = dev(gpu, rng.standard_normal((rows, fin)), dtype)
    W = dev(gpu, rng.standard_normal((fout, fin)), dtype)
    b = dev(gpu, rng.standard_normal(fout), dtype)
    _, saved = gpu.linear_act_forward(x, W, b, act, 0.1)
    gy = dev(gpu, rng.standard_normal((rows, fout)), dtype)
    gy0 = host(gy).copy()
    want = gpu.linear_act_backward(x, W, saved, gy, act, 0.1)
    np.testing.assert_array_equal(host(gy), gy0)  # not given away: left alone
    dz = host(am.backward(gpu.xp, act, saved, gy, 0.1))
    counting = _CountingXP(gpu.xp)
    monkeypatch.setattr(gpu, "xp", counting)
    got = gpu.linear_act_backward(x, W, saved, gy, act, 0.1, overwrite_grad=True)
    monkeypatch.undo()
    assert (rows, fout) not in counting.shapes  # no fresh array for dz ...
    close(gy, dz, dtype)                        # ... it is the gradient's own memory
    for g, w in zip(got, want):
        close(g, w, dtype, rtol=1e-4 if np.dtype(dtype) == np.float32 else None)


def test_dense_copy_of_a_strided_gradient_is_reused_for_dz(gpu, rng, monkeypatch):
    x = dev(gpu, rng.standard_normal((1023, 5)), np.float64)
    W = dev(gpu, rng.standard_normal((3, 5)), np.float64)
    _, saved = gpu.linear_act_forward(x, W, None, "tanh")
    gy = gpu.xp.broadcast_to(dev(gpu, rng.standard_normal(3), np.float64), (1023, 3))  # copied to be dense
    counting = _CountingXP(gpu.xp)
    monkeypatch.setattr(gpu, "xp", counting)
    got = gpu.linear_act_backward(x, W, saved, gy, "tanh")
    monkeypatch.undo()
    assert (1023, 3) not in counting.shapes
    for g, w in zip(got, Backend.linear_act_backward(gpu, x, W, saved, gy, "tanh")):
        close(g, w, np.float64)


# ------------------------------------------------------------------------------------------------ B: GEMM layouts
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transposed", ["W", "x", "both"])
def test_strided_gemm_operands_take_the_fused_path(gpu, rng, launches, dtype, transposed):
    rows, fin, fout = 1023, 13, 7
    x = dev(gpu, rng.standard_normal((rows, fin)), dtype)
    W = dev(gpu, rng.standard_normal((fout, fin)), dtype)
    if transposed in ("W", "both"):
        W = dev(gpu, np.ascontiguousarray(host(W).T), dtype).T  # tied: a transposed (in, out) matrix
        assert not W.flags.c_contiguous
    if transposed in ("x", "both"):
        x = dev(gpu, np.ascontiguousarray(host(x).T), dtype).T
        assert not x.flags.c_contiguous
    b = dev(gpu, rng.standard_normal(fout), dtype)
    y, saved = gpu.linear_act_forward(x, W, b, "silu", 0.01)
    assert launches == ["bias_act_forward"]
    y_ref, saved_ref = Backend.linear_act_forward(gpu, x, W, b, "silu", 0.01)
    close(y, y_ref, dtype)
    gy = dev(gpu, rng.standard_normal((rows, fout)), dtype)
    got = gpu.linear_act_backward(x, W, saved, gy, "silu", 0.01)
    assert launches == ["bias_act_forward", "act_backward_bias_grad"]
    want = Backend.linear_act_backward(gpu, x, W, saved_ref, gy, "silu", 0.01)
    for g, w in zip(got, want):
        close(g, w, dtype, rtol=1e-4 if np.dtype(dtype) == np.float32 else None)


def test_tied_weight_takes_the_fused_path(launches):
    """An autoencoder whose decoder is the encoder's weight transposed (a view) runs on the fused kernels, with
    the CPU's numbers."""
    rng = np.random.default_rng(3)
    xs, E0 = rng.standard_normal((300, 8)), rng.standard_normal((4, 8)) / 3
    results = {}
    for device in ("cpu", "cuda"):
        E = gn.tensor(E0, device=device, requires_grad=True)
        x = gn.tensor(xs, device=device)
        h = gn.functional.linear(x, E, activation="tanh")
        out = gn.functional.linear(h, E.T, activation="sigmoid")  # tied: (8, 4), a transposed view
        (out * out).sum().backward()
        results[device] = (out.numpy(), E.grad.numpy())
    assert launches.count("bias_act_forward") == 2
    assert launches.count("act_backward_bias_grad") == 2
    for got, want in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------------------ C: no idle launch
def test_identity_without_bias_launches_nothing(gpu, rng, launches):
    x = dev(gpu, rng.standard_normal((129, 5)), np.float32)
    W = dev(gpu, rng.standard_normal((3, 5)), np.float32)
    y, saved = gpu.linear_act_forward(x, W, None, "identity")
    assert launches == [] and saved is None
    close(y, Backend.linear_act_forward(gpu, x, W, None, "identity")[0], np.float32)
    gy = dev(gpu, rng.standard_normal((129, 3)), np.float32)
    for need in [(True, True, False), (True, False, False), (False, True, False), (False, False, False)]:
        got = gpu.linear_act_backward(x, W, saved, gy, "identity", 0.01, *need)
        want = Backend.linear_act_backward(gpu, x, W, saved, gy, "identity", 0.01, *need)
        for g, w in zip(got, want):
            close(g, w, np.float32)
    assert launches == []
    gpu.linear_act_backward(x, W, saved, gy, "identity", 0.01, False, False, True)
    assert launches == ["act_backward_bias_grad"]  # db is something to compute
    gpu.linear_act_backward(x, W, gpu.linear_act_forward(x, W, None, "relu")[1], gy, "relu", 0.01, False, False,
                            False)
    assert launches == ["act_backward_bias_grad", "bias_act_forward"]  # no gradient wanted: no backward launch


# ------------------------------------------------------------------------------------------------ D: determinism
def _in_every_order(fn):
    """fn()'s host results with the emulator's blocks and threads forward, reversed and shuffled (three runs on a
    real GPU)."""
    runs = []
    for order in (ORDERS if ORDERS != [None] else [None] * 3):
        if order is not None:
            _emulator.set_order(order)
        runs.append([host(a) for a in fn()])
    return runs


def _assert_same_bits(runs):
    for run in runs[1:]:
        for a, b in zip(run, runs[0]):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [7, 4097, 30_011])
def test_deterministic_bias_grad_is_bitwise_reproducible(gpu, rng, launches, deterministic, dtype, rows):
    fin, fout = 5, 37
    x = dev(gpu, rng.standard_normal((rows, fin)), dtype)
    W = dev(gpu, rng.standard_normal((fout, fin)), dtype)
    b = dev(gpu, rng.standard_normal(fout), dtype)
    _, saved = gpu.linear_act_forward(x, W, b, "leaky_relu", 0.1)
    gy = dev(gpu, rng.standard_normal((rows, fout)), dtype)
    runs = _in_every_order(lambda: gpu.linear_act_backward(x, W, saved, gy, "leaky_relu", 0.1))
    _assert_same_bits(runs)
    want = Backend.linear_act_backward(gpu, x, W, saved, gy, "leaky_relu", 0.1)
    for g, w in zip(runs[0], want):
        close(g, w, dtype, rtol=1e-4 if np.dtype(dtype) == np.float32 else None)
    two_pass = rows > 8 * 16  # more than one row of blocks (by = 8 rows of threads, 16 rows each)
    assert launches.count("column_sum") == (3 if two_pass else 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [2, 4097, 30_011])
@pytest.mark.parametrize("training", [True, False])
def test_deterministic_batchnorm_grads_are_bitwise_reproducible(gpu, rng, launches, deterministic, dtype, rows,
                                                                training):
    cols = 37
    x = dev(gpu, 3 + 2 * rng.standard_normal((rows, cols)), dtype)
    gamma, beta = dev(gpu, rng.standard_normal(cols), dtype), dev(gpu, rng.standard_normal(cols), dtype)
    rm, rv = dev(gpu, np.zeros(cols), dtype), dev(gpu, np.ones(cols), dtype)
    _, saved = gpu.batchnorm_forward(x, gamma, beta, rm, rv, training, 0.1, 1e-5)
    gy = dev(gpu, rng.standard_normal((rows, cols)), dtype)
    del launches[:]
    runs = _in_every_order(lambda: gpu.batchnorm_backward(saved, gamma, gy, training))
    _assert_same_bits(runs)
    want = Backend.batchnorm_backward(gpu, saved, gamma, gy, training)
    for g, w in zip(runs[0], want):
        close(g, w, dtype, rtol=2e-4 if np.dtype(dtype) == np.float32 else None)
    assert launches.count("column_sum") == (6 if rows > 8 * 16 else 0)  # dbeta and dgamma, three runs


def test_default_mode_uses_atomics_and_agrees(gpu, rng, launches):
    assert not gn.are_deterministic_algorithms_enabled()
    x = dev(gpu, rng.standard_normal((4097, 3)), np.float64)
    W = dev(gpu, rng.standard_normal((6, 3)), np.float64)
    b = dev(gpu, rng.standard_normal(6), np.float64)
    _, saved = gpu.linear_act_forward(x, W, b, "relu")
    gy = dev(gpu, rng.standard_normal((4097, 6)), np.float64)
    fast = gpu.linear_act_backward(x, W, saved, gy, "relu")
    assert "column_sum" not in launches
    gn.use_deterministic_algorithms(True)
    try:
        fixed = gpu.linear_act_backward(x, W, saved, gy, "relu")
    finally:
        gn.use_deterministic_algorithms(False)
    assert launches[-1] == "column_sum"
    for g, w in zip(fast, fixed):
        close(g, w, np.float64)
