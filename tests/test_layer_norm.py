"""LayerNorm / RMSNorm: forward against a float64 NumPy reference, gradients by gradcheck on every backend and
against PyTorch, the compiled CPU and CUDA kernels against the backend's xp reference, and the error messages."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import backend as B
from gpunet import nn
from gpunet.backend import _parallel
from gpunet.backend.base import Backend

from conftest import to_numpy, torch_or_skip, values_and_grads_like_torch
from test_gpu_kernels import ORDERS, _PoisonXP

CASES = [((4, 7), (7,)), ((2, 3, 5), (5,)), ((2, 3, 4), (3, 4)), ((6, 1), 1), ((3, 2, 2, 3), [2, 2, 3])]


def ref_layer_norm(x, shape, w=None, b=None, eps=1e-5, rms=False):
    x = np.asarray(x, np.float64)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    if rms:
        y = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    else:
        mu = x.mean(axis=axes, keepdims=True)
        y = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def _shape(s):
    return (s,) if isinstance(s, int) else tuple(s)


# ------------------------------------------------------------------------------------------------ forward
@pytest.mark.parametrize("xshape, nshape", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_numpy_reference(backend, rng, xshape, nshape, dtype):
    ns = _shape(nshape)
    x = rng.standard_normal(xshape) * 3 + 2
    w, b = rng.standard_normal(ns), rng.standard_normal(ns)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    xt = gn.tensor(x, dtype=dtype)
    wt, bt = gn.tensor(w, dtype=dtype), gn.tensor(b, dtype=dtype)
    y = F.layer_norm(xt, nshape, wt, bt)
    assert y.dtype == dtype and y.shape == xshape
    np.testing.assert_allclose(to_numpy(y), ref_layer_norm(x, ns, w, b), **tol)
    np.testing.assert_allclose(to_numpy(F.layer_norm(xt, nshape)), ref_layer_norm(x, ns), **tol)
    np.testing.assert_allclose(to_numpy(F.rms_norm(xt, nshape, wt, eps=1e-6)),
                               ref_layer_norm(x, ns, w, eps=1e-6, rms=True), **tol)


def test_large_mean_keeps_the_variance_float32():
    x = (1e4 + np.random.default_rng(0).standard_normal((8, 3000))).astype(np.float32)
    y = F.layer_norm(gn.tensor(x), 3000)
    np.testing.assert_allclose(to_numpy(y), ref_layer_norm(x, (3000,)), atol=3e-3)


def test_rms_norm_default_eps_is_machine_epsilon():
    x = np.full((2, 3), 1e-5)
    for dt in (np.float32, np.float64):
        want = 1e-5 / math.sqrt(1e-10 + float(np.finfo(dt).eps))
        np.testing.assert_allclose(to_numpy(nn.RMSNorm(3, elementwise_affine=False)(gn.tensor(x, dtype=dt))),
                                   np.full((2, 3), want), rtol=1e-5)


# ------------------------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("seed", range(4))
def test_gradcheck_random_shapes(backend, seed):
    r = np.random.default_rng(seed)
    lead = tuple(int(v) for v in r.integers(1, 4, size=r.integers(1, 3)))
    ns = tuple(int(v) for v in r.integers(1, 5, size=r.integers(1, 3)))
    x = gn.tensor(r.standard_normal(lead + ns) * 2 + 1, dtype=np.float64, requires_grad=True)
    w = gn.tensor(r.standard_normal(ns), dtype=np.float64, requires_grad=True)
    b = gn.tensor(r.standard_normal(ns), dtype=np.float64, requires_grad=True)
    assert gn.gradcheck(lambda x, w, b: F.layer_norm(x, ns, w, b, eps=1e-3), [x, w, b])
    assert gn.gradcheck(lambda x, w: F.rms_norm(x, ns, w, eps=1e-3), [x, w])
    assert gn.gradcheck(lambda x: F.layer_norm(x, ns, eps=1e-3), [x])


@pytest.mark.torch
@pytest.mark.parametrize("xshape, nshape", CASES)
def test_values_and_grads_like_torch(rng, xshape, nshape):
    torch = torch_or_skip()
    ns = _shape(nshape)
    x, w, b = rng.standard_normal(xshape) + 1, rng.standard_normal(ns), rng.standard_normal(ns)
    values_and_grads_like_torch(lambda x, w, b: F.layer_norm(x, nshape, w, b),
                                lambda x, w, b: torch.nn.functional.layer_norm(x, ns, w, b), x, w, b,
                                rtol=1e-10, atol=1e-12)
    values_and_grads_like_torch(lambda x, w: F.rms_norm(x, nshape, w),
                                lambda x, w: torch.nn.functional.rms_norm(x, ns, w), x, w, rtol=1e-10,
                                atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["layer", "layer_nobias", "layer_noaffine", "rms"])
def test_module_state_dict_and_adam_steps_like_torch(rng, kind):
    torch = torch_or_skip()
    mk = {"layer": lambda m: m.LayerNorm((3, 4), eps=1e-4),
          "layer_nobias": lambda m: m.LayerNorm(4, bias=False),
          "layer_noaffine": lambda m: m.LayerNorm(4, elementwise_affine=False),
          "rms": lambda m: m.RMSNorm([4], eps=1e-6)}[kind]
    tnorm = mk(torch.nn).double()
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 4), tnorm, torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for p in tnorm.parameters():
            p.copy_(torch.tensor(rng.standard_normal(p.shape)))
    model = nn.Sequential(nn.Linear(4, 4), mk(nn), nn.Linear(4, 2)).double()
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert repr(model[1]) == repr(tnorm)
    opt, topt = gn.optim.Adam(model.parameters(), lr=0.01), torch.optim.Adam(tmodel.parameters(), lr=0.01)
    for _ in range(3):
        x = rng.standard_normal((5, 3, 4))
        t = rng.standard_normal((5, 3, 2))
        loss = F.mse_loss(model(gn.tensor(x)), gn.tensor(t))
        tloss = torch.nn.functional.mse_loss(tmodel(torch.tensor(x)), torch.tensor(t))
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
        opt.zero_grad()
        topt.zero_grad()
        loss.backward()
        tloss.backward()
        for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
            np.testing.assert_allclose(to_numpy(p.grad), tp.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)
        opt.step()
        topt.step()
    for k, v in tmodel.state_dict().items():
        np.testing.assert_allclose(to_numpy(model.state_dict()[k]), v.numpy(), rtol=1e-8, atol=1e-12, err_msg=k)


def test_module_defaults_and_parameters():
    ln = nn.LayerNorm([2, 3])
    assert ln.normalized_shape == (2, 3) and ln.eps == 1e-5 and ln.weight.shape == (2, 3)
    np.testing.assert_array_equal(to_numpy(ln.weight), np.ones((2, 3)))
    np.testing.assert_array_equal(to_numpy(ln.bias), np.zeros((2, 3)))
    assert nn.LayerNorm(3, bias=False).bias is None
    assert nn.LayerNorm(3, elementwise_affine=False).weight is None
    rms = nn.RMSNorm(5)
    assert rms.eps is None and list(rms.state_dict()) == ["weight"]
    assert nn.LayerNorm(4).double()(np.ones((2, 4))).dtype == np.float64


# ------------------------------------------------------------------------------------------------ errors
def test_errors_name_the_problem():
    x = gn.tensor(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"normalized_shape=\[6\] expects an input of shape \[\*, 6\].*\[4, 5\]"):
        F.layer_norm(x, 6)
    with pytest.raises(ValueError, match="last 2 dimensions"):
        nn.LayerNorm((4, 4))(x)
    with pytest.raises(ValueError, match="weight must have shape"):
        F.layer_norm(x, 5, weight=gn.tensor(np.ones(4, np.float32)))
    with pytest.raises(TypeError, match="floating-point"):
        F.layer_norm(gn.tensor(np.zeros((2, 3), np.int64)), 3)
    with pytest.raises(TypeError, match="must match"):
        F.rms_norm(x, 5, gn.tensor(np.ones(5)))
    with pytest.raises(ValueError, match="rms_norm"):
        nn.RMSNorm(3)(x)


# ------------------------------------------------------------------------------------------------ CPU kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rms", [False, True])
def test_cpu_kernels_match_reference(monkeypatch, rng, dtype, threads, rms):
    be = B.get("numpy")
    monkeypatch.setattr(_parallel, "NUM_THREADS", threads)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1)
    x = (rng.standard_normal((37, 129)) * 2 + 5).astype(dtype)
    w, b = rng.standard_normal(129).astype(dtype), rng.standard_normal(129).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)
    for wb in [(w, None if rms else b), (None, None), (w, None), (None, None if rms else b)]:
        got = be.layer_norm_forward(x, *wb, 1e-5, rms)
        want = Backend.layer_norm_forward(be, x, *wb, 1e-5, rms)
        for a, c in zip(got, want):
            assert (a is None) == (c is None)
            if a is not None:
                assert a.dtype == dtype
                np.testing.assert_allclose(a, c, **tol)
        for need in [(True, True, True), (True, False, False), (False, True, False), (False, False, True)]:
            gd = be.layer_norm_backward(g, x, got[1], got[2], wb[0], rms, *need)
            wd = Backend.layer_norm_backward(be, g, x, want[1], want[2], wb[0], rms, *need)
            for a, c in zip(gd, wd):
                assert (a is None) == (c is None)
                if a is not None:
                    assert a.dtype == dtype
                    np.testing.assert_allclose(a, c, **tol)


# ------------------------------------------------------------------------------------------------ CUDA kernels
@pytest.fixture(params=ORDERS, ids=lambda o: o or "device")
def gpu(request, monkeypatch):
    """The CuPy backend with poisoned allocations, in each thread order of the emulator (once on a GPU)."""
    try:
        from cuda_emulator import emulator
    except ImportError:
        emulator = None
    if request.param is not None:
        emulator.set_order(request.param)
    be = B.get("cupy")
    monkeypatch.setattr(be, "xp", _PoisonXP(be.xp))
    yield be
    if request.param is not None:
        emulator.set_order(None)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, d, deterministic", [(1, 1, False), (3, 37, False), (5, 300, False),
                                                    (200, 40, False), (200, 40, True)])
@pytest.mark.parametrize("rms", [False, True])
def test_cuda_kernels_match_reference(gpu, rng, dtype, rows, d, deterministic, rms, monkeypatch):
    """(200, 40): the affine gradients' column launch has two rows of blocks (atomicAdd, or in deterministic
    mode per-block-row partials summed by column_sum)."""
    from gpunet.backend import _determinism

    monkeypatch.setattr(_determinism, "_enabled", deterministic)
    xp = gpu.xp
    x = xp.array((rng.standard_normal((rows, d)) * 2 + 5).astype(dtype))
    w, b = xp.array(rng.standard_normal(d).astype(dtype)), xp.array(rng.standard_normal(d).astype(dtype))
    g = xp.array(rng.standard_normal((rows, d)).astype(dtype))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)

    def close(a, c):
        assert (a is None) == (c is None)
        if a is not None:
            assert a.dtype == dtype
            np.testing.assert_allclose(a.get(), c.get(), **tol)

    for wb in [(w, None if rms else b), (None, None)]:
        got = gpu.layer_norm_forward(x, *wb, 1e-5, rms)
        want = Backend.layer_norm_forward(gpu, x, *wb, 1e-5, rms)
        for a, c in zip(got, want):
            close(a, c)
        for need in [(True, True, True), (True, False, False), (False, True, True)]:
            gd = gpu.layer_norm_backward(g, x, got[1], got[2], wb[0], rms, *need)
            wd = Backend.layer_norm_backward(gpu, g, x, want[1], want[2], wb[0], rms, *need)
            for a, c in zip(gd, wd):
                close(a, c)


def test_input_gradient_is_its_own_array(backend):
    """dx is written into an array of the input's shape (not a reshaped view), so the engine keeps it as the
    gradient without another copy."""
    x = gn.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True)
    F.layer_norm(x, (3, 4)).sum().backward()
    assert x.grad.shape == (2, 3, 4) and getattr(x.grad.data, "base", None) is None
    x.grad = None
    F.group_norm(x, 3).sum().backward()
    assert getattr(x.grad.data, "base", None) is None
