"""The CPU backend's fused ops against the Backend base class's plain-xp references (the contract of every
specialisation), on awkward sizes, both float dtypes; blocks and threads must not change the numbers."""
import numpy as np
import pytest

from gpunet.backend import _numpy_fused as fused
from gpunet.backend import _parallel
from gpunet.backend.base import Backend
from gpunet.backend.numpy_backend import NumpyBackend

REF = Backend(np)
FAST = NumpyBackend()
SIZES = [(1, 3, 5), (7, 4, 3), (129, 33, 65), (200, 31, 300)]
ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu"]


def _tol(dt):
    return dict(rtol=1e-11, atol=1e-11) if dt == np.float64 else dict(rtol=2e-4, atol=2e-4)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request, monkeypatch):
    monkeypatch.setattr(_parallel, "NUM_THREADS", request.param)
    monkeypatch.setattr(_parallel, "_pool", None)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1 << 10)  # make the threaded path run on test sizes
    return request.param


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("n,k,c", SIZES)
@pytest.mark.parametrize("act", ACTS)
def test_linear_act_matches_reference(threads, act, n, k, c, dt, rng):
    x, W, b, g = (rng.standard_normal(s).astype(dt) for s in [(n, k), (c, k), (c,), (n, c)])
    y1, s1 = REF.linear_act_forward(x, W, b, act, 0.1)
    y2, s2 = FAST.linear_act_forward(x, W, b, act, 0.1)
    np.testing.assert_allclose(y2, y1, **_tol(dt))
    assert y2.dtype == dt
    g_before = g.copy()
    for need in [(True, True, True), (False, True, False)]:
        r1 = REF.linear_act_backward(x, W, s1, g, act, 0.1, *need)
        for overwrite in (False, True):
            g_given = g.copy() if overwrite else g
            r2 = FAST.linear_act_backward(x, W, s2, g_given, act, 0.1, *need, overwrite_grad=overwrite)
            np.testing.assert_array_equal(g, g_before)  # the caller's gradient is untouched unless given away
            for a, b_ in zip(r1, r2):
                assert (a is None) == (b_ is None)
                if a is not None:
                    np.testing.assert_allclose(b_, a, rtol=_tol(dt)["rtol"], atol=_tol(dt)["atol"] * max(n, k))


def test_linear_backward_leaves_a_viewed_gradient_alone(rng):
    """Without ``overwrite_grad`` the gradient given is never written to: a contiguous view (here the first rows
    of a bigger array) is used as it is, a strided one is copied first (and the copy may be reused)."""
    x, W = rng.standard_normal((300, 40)), rng.standard_normal((50, 40))
    _, saved = FAST.linear_act_forward(x, W, None, "tanh")
    _, saved_ref = REF.linear_act_forward(x, W, None, "tanh")
    tall, wide = rng.standard_normal((600, 50)), rng.standard_normal((300, 100))
    before = tall.copy(), wide.copy()
    for g in (tall[:300], wide[:, ::2]):
        dx, _, _ = FAST.linear_act_backward(x, W, saved, g, "tanh")
        dx_ref, _, _ = REF.linear_act_backward(x, W, saved_ref, g, "tanh")
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-11, atol=1e-11)
    np.testing.assert_array_equal(tall, before[0])
    np.testing.assert_array_equal(wide, before[1])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("code", [0, 1, 2, 3, 4])
def test_activation_gradient_in_place_is_the_same_pass_bitwise(code, dt, rng):
    """The pass that writes dz over the gradient (its own kernel, so it still vectorises) gives the very numbers
    of the pass into a fresh array."""
    from gpunet.backend import _numba

    K = _numba.kernels()
    if K is None:
        pytest.skip("Numba kernels unavailable")
    y = np.maximum(rng.standard_normal((37, 300)), 0).astype(dt) if code in (1, 2) else \
        rng.uniform(0.01, 0.99, (37, 300)).astype(dt)
    g = rng.standard_normal((37, 300)).astype(dt)
    dz, db1, db2 = np.empty_like(g), np.zeros(300, dt), np.zeros(300, dt)
    K.act_grad_bias(g, y, dz, db1, code, dt(0.2), 3, 30)
    g2 = g.copy()
    K.act_grad_bias_inplace(g2, y, db2, code, dt(0.2), 3, 30)
    np.testing.assert_array_equal(g2[3:30], dz[3:30])
    np.testing.assert_array_equal(g2[:3], g[:3])  # rows outside the span are left alone
    np.testing.assert_array_equal(db2, db1)


CHAIN_ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]  # the ones the small-chain kernel does
CHAIN_NEEDS = {  # one flag per input (x, W1, b1, W2, b2, W3, b3)
    "all": (True,) * 7,
    "no_input": (False,) + (True,) * 6,
    "frozen_bottom": (False, False, False, True, True, True, True),
    "only_top_bias": (False,) * 6 + (True,),
    "input_only": (True,) + (False,) * 6,
}


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("needs", list(CHAIN_NEEDS), ids=list(CHAIN_NEEDS))
@pytest.mark.parametrize("n", [1, 5])
def test_small_chain_matches_reference(needs, n, dt, rng):
    """Three small layers in one compiled call each way against the base class's loop over the reference
    layers, every activation and a missing bias among them; gradients exactly where ``needs`` asks."""
    needs = CHAIN_NEEDS[needs]
    sizes = [3, 7, 4, 2]
    for acts in (("relu", "leaky_relu", "identity"), ("sigmoid", "tanh", "relu"), ("tanh", "identity", "sigmoid")):
        params = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            params += [rng.standard_normal((b, a)).astype(dt), None if i == 1 else rng.standard_normal(b).astype(dt)]
        x, g = rng.standard_normal((n, 3)).astype(dt), rng.standard_normal((n, 2)).astype(dt)
        alphas = (0.01, 0.2, 0.01)
        y1, s1 = REF.linear_chain_forward(x, params, acts, alphas)
        y2, s2 = FAST.linear_chain_forward(x, params, acts, alphas)
        assert type(s2) is fused.ChainSaved and y2.dtype == dt
        np.testing.assert_allclose(y2, y1, **_tol(dt))
        g_before = g.copy()
        r1 = REF.linear_chain_backward(s1, g, acts, alphas, needs)
        r2 = FAST.linear_chain_backward(s2, g, acts, alphas, needs)
        np.testing.assert_array_equal(g, g_before)
        for i, (a, b_) in enumerate(zip(r1, r2)):
            assert (a is not None) == (b_ is not None) == needs[i], (i, acts)
            if a is not None and b_ is not None:
                np.testing.assert_allclose(b_, a, **_tol(dt))


def test_small_chain_is_the_single_layer_kernels_bitwise(rng):
    """The one-call chain runs each layer exactly as the small single-layer kernel does: same bits."""
    x = rng.standard_normal((4, 2)).astype(np.float32)
    W1, b1, W2, b2 = (rng.standard_normal(s).astype(np.float32) for s in [(8, 2), (8,), (2, 8), (2,)])
    g = rng.standard_normal((4, 2)).astype(np.float32)
    y, saved = FAST.linear_chain_forward(x, (W1, b1, W2, b2), ("relu", "identity"), (0.01, 0.01))
    h, s1 = FAST.linear_act_forward(x, W1, b1, "relu")
    y_, s2 = FAST.linear_act_forward(h, W2, b2, "identity")
    np.testing.assert_array_equal(y, y_)
    grads = FAST.linear_chain_backward(saved, g, ("relu", "identity"), (0.01, 0.01), (True,) * 5)
    dh, dW2, db2 = FAST.linear_act_backward(h, W2, s2, g, "identity")
    dx, dW1, db1 = FAST.linear_act_backward(x, W1, s1, dh, "relu")
    for a, b_ in zip(grads, (dx, dW1, db1, dW2, db2)):
        np.testing.assert_array_equal(a, b_)


def test_small_chain_declines_what_its_kernel_does_not_do(rng):
    """None (and nothing computed) unless every layer is for the small kernels; the backend then loops over
    its single-layer ops."""
    x = rng.standard_normal((4, 3))
    W1, W2 = rng.standard_normal((5, 3)), rng.standard_normal((2, 5))
    relu = ("relu", "identity"), (0.01, 0.01)
    assert fused.linear_chain_forward(x, (W1, None, W2, None), *relu) is not None
    assert fused.linear_chain_forward(x, (W1, None, W2, None), ("gelu", "identity"), (0.01, 0.01)) is None
    assert fused.linear_chain_forward(x, (W1, None, W2, None), ("leaky_relu", "identity"), (1.5, 0.01)) is None
    assert fused.linear_chain_forward(x, (W1, None, W2.astype(np.float32), None), *relu) is None
    assert fused.linear_chain_forward(x, (np.asfortranarray(W1), None, W2, None), *relu) is None
    big = rng.standard_normal((200, 3))  # 200 · 3 · 5 multiply-adds is still small, 200 · 5 · 2 too
    assert fused.linear_chain_forward(big, (W1, None, W2, None), *relu) is not None
    x64, W = rng.standard_normal((64, 3)), rng.standard_normal((100, 3))  # 64 · 3 · 100 > SMALL_LINEAR_MAX
    assert fused.linear_chain_forward(x64, (W, None, rng.standard_normal((2, 100)), None), *relu) is None
    y, saved = FAST.linear_chain_forward(x64, (W, None, rng.standard_normal((2, 100)), None), *relu)
    assert type(saved) is list  # the base class's loop over linear_act_forward
    frozen = W1.copy()
    frozen.flags.writeable = False  # Numba types it apart from the other weights
    assert fused.linear_chain_forward(x, (frozen, None, W2, None), *relu) is None


def test_small_chain_takes_a_read_only_input_and_integer_slopes(rng):
    x = rng.standard_normal((4, 3))
    x.flags.writeable = False
    params = (rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal((2, 5)), None)
    acts, alphas = ("leaky_relu", "leaky_relu"), (1, 0.5)
    y1, s1 = REF.linear_chain_forward(x, params, acts, alphas)
    y2, s2 = FAST.linear_chain_forward(x, params, acts, alphas)
    assert type(s2) is fused.ChainSaved
    np.testing.assert_allclose(y2, y1, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal((4, 2))
    for a, b in zip(REF.linear_chain_backward(s1, g, acts, alphas, (True,) * 4 + (False,)),
                    FAST.linear_chain_backward(s2, g, acts, alphas, (True,) * 4 + (False,))):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("n,c", [(2, 3), (7, 5), (129, 65), (200, 300)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_matches_reference(threads, n, c, dt, affine, rng):
    x = (rng.standard_normal((n, c)) * 3 + 5).astype(dt)
    g = rng.standard_normal((n, c)).astype(dt)
    gamma = rng.standard_normal(c).astype(dt) if affine else None
    beta = rng.standard_normal(c).astype(dt) if affine else None
    rm1, rv1 = np.zeros(c, dt), np.ones(c, dt)
    rm2, rv2 = rm1.copy(), rv1.copy()
    y1, s1 = REF.batchnorm_forward(x, gamma, beta, rm1, rv1, True, 0.1, 1e-5)
    y2, s2 = FAST.batchnorm_forward(x, gamma, beta, rm2, rv2, True, 0.1, 1e-5)
    np.testing.assert_allclose(y2, y1, **_tol(dt))
    np.testing.assert_allclose(rm2, rm1, **_tol(dt))
    np.testing.assert_allclose(rv2, rv1, **_tol(dt))
    d1 = REF.batchnorm_backward(s1, gamma, g, True)
    d2 = FAST.batchnorm_backward(s2, gamma, g, True)
    for a, b_ in zip(d1, d2):
        assert (a is None) == (b_ is None)
        if a is not None:
            np.testing.assert_allclose(b_, a, rtol=_tol(dt)["rtol"], atol=_tol(dt)["atol"] * np.sqrt(n))


def test_batchnorm_float32_large_mean_is_stable(rng):
    """Shifted sums: a mean 1e4 times the std loses nothing a float32 input still holds."""
    x64 = rng.standard_normal((512, 64)) * 0.5 + 1e4
    x = x64.astype(np.float32)
    y, _ = FAST.batchnorm_forward(x, None, None, None, None, True, 0.1, 1e-5)
    ref, _ = REF.batchnorm_forward(x.astype(np.float64), None, None, None, None, True, 0.1, 1e-5)
    np.testing.assert_allclose(y, ref, atol=5e-3)
    naive_var = (x * x).mean(0) - x.mean(0) ** 2  # what the one-pass E[x²]−E[x]² gives in float32
    assert np.abs(naive_var - x64.var(0)).max() > 10 * np.abs(y.std(0) - 1).max()


def test_fast_path_falls_back_for_other_dtypes(rng):
    x = rng.standard_normal((4, 3)).astype(np.float16)
    W = rng.standard_normal((2, 3)).astype(np.float16)
    y, saved = FAST.linear_act_forward(x, W, None, "relu")
    dx, dW, db = FAST.linear_act_backward(x, W, saved, np.ones((4, 2), np.float16), "relu", need_b=False)
    assert y.dtype == np.float16 and dx.shape == x.shape and dW.shape == W.shape and db is None


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("n,c", [(1, 1), (7, 3), (129, 65), (300, 70)])  # narrow to wide rows
def test_softmax_xent_matches_reference(n, c, dt, rng):
    z = (rng.standard_normal((n, c)) * 30).astype(dt)  # large logits: the max shift must hold
    t = rng.integers(0, c, n)
    l1, p1 = REF.softmax_xent_forward(z, t)
    l2, p2 = FAST.softmax_xent_forward(z, t)
    np.testing.assert_allclose(l2, l1, **_tol(dt))
    np.testing.assert_allclose(p2, p1, **_tol(dt))
    w = rng.standard_normal(n).astype(dt)
    np.testing.assert_allclose(FAST.softmax_xent_backward(p2, t, w), REF.softmax_xent_backward(p1, t, w), **_tol(dt))


@pytest.mark.parametrize("n", [2, 20000])
def test_softmax_xent_rejects_bad_target(n):
    """Both CPU paths check indices themselves (the kernel runs without bounds checks), and name the row."""
    t = np.zeros(n, np.int64)
    t[1] = 3
    with pytest.raises(IndexError, match="target 3 at row 1 is outside"):
        FAST.softmax_xent_forward(np.zeros((n, 3), np.float32), t)


# Optimizer updates: the compiled kernel against the reference update of gpunet.optim._functional, BIT FOR BIT
# (same operations in the same order), for every option that changes the formula.
from gpunet.optim import _functional as OF  # noqa: E402

OPTIM_CASES = [
    ("sgd", dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False, maximize=True)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=True, maximize=False)),
    ("adam", dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False)),
    ("adam", dict(lr=1e-2, beta1=0.3, beta2=0.99, eps=1e-6, weight_decay=0.1, amsgrad=True, decoupled=False,
                  maximize=True)),
    ("adam", dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, amsgrad=False, decoupled=True)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, eps=1e-10, maximize=False)),
    ("rmsprop", dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False)),
    ("rmsprop", dict(lr=0.01, alpha=0.3, eps=1e-8, weight_decay=0.01, momentum=0.9, centered=True,
                     maximize=True)),
    ("adadelta", dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.01, maximize=False)),
]


def _optim_state(name, opts, shape, dt, rng):
    z = lambda: np.abs(rng.standard_normal(shape)).astype(dt) * 0.1  # noqa: E731 (positive: squares)
    if name == "sgd":
        return [z()]
    if name == "adam":
        return [z(), z(), z()]
    if name == "adagrad":
        return [z()]
    if name == "rmsprop":
        return [z() + 1, z() * 0.1, z()]  # v ≥ ḡ²: centered RMSprop's √(v − ḡ²) stays real
    return [z(), z()]


def _optim_call(fn, name, opts, p, g, st, step, xp=np):
    if name == "sgd":
        fn(xp, p, g, st[0], init_buffer=step == 1, **opts)
    elif name == "adam":
        fn(xp, p, g, st[0], st[1], st[2], step, **opts)
    elif name == "adagrad":
        fn(xp, p, g, st[0], step, **opts)
    elif name == "rmsprop":
        fn(xp, p, g, st[0], st[1], st[2], **opts)
    else:
        fn(xp, p, g, st[0], st[1], **opts)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7, 3), (3000, 40)])
@pytest.mark.parametrize("name,opts", OPTIM_CASES, ids=[f"{n}{i}" for i, (n, _) in enumerate(OPTIM_CASES)])
def test_optimizer_kernel_matches_reference_bitwise(threads, name, opts, shape, dt, rng):
    kernel = FAST.optimizer_kernel(name)
    reference = getattr(OF, f"{name}_update")
    p1 = rng.standard_normal(shape).astype(dt)
    s1 = _optim_state(name, opts, shape, dt, rng)
    p2, s2 = p1.copy(), [s.copy() for s in s1]
    for step in (1, 2, 3):
        g = rng.standard_normal(shape).astype(dt)
        _optim_call(reference, name, opts, p1, g, s1, step)
        _optim_call(kernel, name, opts, p2, g, s2, step)
    np.testing.assert_array_equal(p2, p1)
    for a, b in zip(s2, s1):
        np.testing.assert_array_equal(a, b)


def test_numba_off_uses_the_reference(monkeypatch, rng):
    """Without the compiled kernels (GPUNET_NUMBA=0, or Numba missing) every op still runs, on the reference."""
    from gpunet.backend import _numba

    monkeypatch.setattr(_numba, "_kernels", None)
    monkeypatch.setattr(_numba, "_reason", "turned off by GPUNET_NUMBA=0")
    assert FAST.optimizer_kernel("adam") is None
    assert "GPUNET_NUMBA=0" in _numba.status()
    x, W = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    y, saved = FAST.linear_act_forward(x, W, None, "relu")
    assert not isinstance(saved, fused.Saved) and y.shape == (5, 2)
    np.testing.assert_allclose(y, np.maximum(x @ W.T, 0), rtol=1e-6)


def test_bad_thread_count_is_named():
    """GPUNET_NUM_THREADS that is not an integer fails at import with the variable and the value."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, GPUNET_NUM_THREADS="two")
    r = subprocess.run([sys.executable, "-c", "import gpunet.backend._parallel"], env=env, capture_output=True,
                       text=True)
    assert r.returncode != 0
    assert "GPUNET_NUM_THREADS must be a positive integer, got 'two'" in r.stderr


def test_non_native_byte_order_takes_the_reference_path(rng):
    """Numba takes native-byte-order arrays only: big-endian float32 input must not reach the kernels."""
    x = rng.standard_normal((5, 3)).astype(">f4")
    W = rng.standard_normal((4, 3)).astype(">f4")
    b = rng.standard_normal(4).astype(">f4")
    assert not fused.usable(x, W, b)
    y, _ = FAST.linear_act_forward(x, W, b, "relu")
    np.testing.assert_allclose(y, np.maximum(x.astype(np.float64) @ W.T.astype(np.float64) + b, 0), rtol=1e-5,
                               atol=1e-6)
