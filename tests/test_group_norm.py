"""GroupNorm: forward against a float64 NumPy reference, gradients by gradcheck on every backend and against
PyTorch, the compiled CPU and CUDA kernels against the backend's xp reference, and the error messages."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import backend as B
from gpunet import nn
from gpunet.backend import _parallel
from gpunet.backend.base import Backend

from conftest import to_numpy, torch_or_skip, values_and_grads_like_torch
from test_layer_norm import gpu  # noqa: F401  (the CUDA-kernel fixture, in every thread order)

CASES = [((2, 6), 3), ((3, 4, 5), 2), ((2, 6, 3, 2), 3), ((1, 4, 7), 4), ((2, 3, 2, 2, 2), 1)]


def ref_group_norm(x, groups, w=None, b=None, eps=1e-5):
    x = np.asarray(x, np.float64)
    n, c = x.shape[:2]
    xg = x.reshape(n, groups, -1)
    mu = xg.mean(axis=2, keepdims=True)
    y = ((xg - mu) / np.sqrt(((xg - mu) ** 2).mean(axis=2, keepdims=True) + eps)).reshape(x.shape)
    bshape = (1, c) + (1,) * (x.ndim - 2)
    if w is not None:
        y = y * np.reshape(w, bshape)
    if b is not None:
        y = y + np.reshape(b, bshape)
    return y


@pytest.mark.parametrize("xshape, groups", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_numpy_reference(backend, rng, xshape, groups, dtype):
    c = xshape[1]
    x = rng.standard_normal(xshape) * 2 - 3
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    xt = gn.tensor(x, dtype=dtype)
    y = F.group_norm(xt, groups, gn.tensor(w, dtype=dtype), gn.tensor(b, dtype=dtype))
    assert y.dtype == dtype and y.shape == xshape
    np.testing.assert_allclose(to_numpy(y), ref_group_norm(x, groups, w, b), **tol)
    np.testing.assert_allclose(to_numpy(F.group_norm(xt, groups)), ref_group_norm(x, groups), **tol)


@pytest.mark.parametrize("xshape, groups", CASES[:4])
def test_gradcheck(backend, rng, xshape, groups):
    c = xshape[1]
    x = gn.tensor(rng.standard_normal(xshape), dtype=np.float64, requires_grad=True)
    w = gn.tensor(rng.standard_normal(c), dtype=np.float64, requires_grad=True)
    b = gn.tensor(rng.standard_normal(c), dtype=np.float64, requires_grad=True)
    assert gn.gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b, eps=1e-3), [x, w, b])
    assert gn.gradcheck(lambda x, b: F.group_norm(x, groups, None, b, eps=1e-3), [x, b])
    assert gn.gradcheck(lambda x: F.group_norm(x, groups, eps=1e-3), [x])


@pytest.mark.torch
@pytest.mark.parametrize("xshape, groups", CASES)
def test_values_and_grads_like_torch(rng, xshape, groups):
    torch = torch_or_skip()
    c = xshape[1]
    x, w, b = rng.standard_normal(xshape), rng.standard_normal(c), rng.standard_normal(c)
    values_and_grads_like_torch(lambda x, w, b: F.group_norm(x, groups, w, b),
                                lambda x, w, b: torch.nn.functional.group_norm(x, groups, w, b), x, w, b,
                                rtol=1e-10, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("kw", [{}, {"affine": False}, {"bias": False}, {"eps": 1e-3}])
def test_module_state_dict_and_adam_steps_like_torch(rng, kw):
    torch = torch_or_skip()
    tnorm = torch.nn.GroupNorm(2, 4, **kw).double()
    with torch.no_grad():
        for p in tnorm.parameters():
            p.copy_(torch.tensor(rng.standard_normal(p.shape)))
    norm = nn.GroupNorm(2, 4, **kw).double()
    norm.load_state_dict({k: v.numpy() for k, v in tnorm.state_dict().items()})
    assert list(norm.state_dict()) == list(tnorm.state_dict()) and repr(norm) == repr(tnorm)
    params, tparams = list(norm.parameters()), list(tnorm.parameters())
    opt = gn.optim.Adam(params, lr=0.05) if params else None
    topt = torch.optim.Adam(tparams, lr=0.05) if tparams else None
    for _ in range(3):
        x = rng.standard_normal((3, 4, 5))
        xt, txt = gn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, ty = norm(xt), tnorm(txt)
        np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        loss, tloss = (y * y * y).sum(), (ty * ty * ty).sum()
        loss.backward()
        tloss.backward()
        np.testing.assert_allclose(to_numpy(xt.grad), txt.grad.numpy(), rtol=1e-9, atol=1e-10)
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(to_numpy(p.grad), tp.grad.numpy(), rtol=1e-9, atol=1e-10)
        if opt is not None:
            opt.step()
            topt.step()
            opt.zero_grad()
            topt.zero_grad()
    for k, v in tnorm.state_dict().items():
        np.testing.assert_allclose(to_numpy(norm.state_dict()[k]), v.numpy(), rtol=1e-9, err_msg=k)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="num_channels=6 must be divisible by num_groups=4"):
        nn.GroupNorm(4, 6)
    x = gn.tensor(np.zeros((2, 6, 3), np.float32))
    with pytest.raises(ValueError, match="6 channels .* must be divisible by num_groups=4"):
        F.group_norm(x, 4)
    with pytest.raises(ValueError, match=r"weight must have shape \(6,\)"):
        F.group_norm(x, 3, gn.tensor(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.group_norm(gn.tensor(np.zeros(6, np.float32)), 3)
    with pytest.raises(TypeError, match="must match"):
        F.group_norm(x, 3, gn.tensor(np.ones(6)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_cpu_kernels_match_reference(monkeypatch, rng, dtype, threads):
    be = B.get("numpy")
    monkeypatch.setattr(_parallel, "NUM_THREADS", threads)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1)
    groups, n, cg, s = 3, 5, 4, 7
    x = (rng.standard_normal((n * groups, cg, s)) + 4).astype(dtype)
    w, b = rng.standard_normal(groups * cg).astype(dtype), rng.standard_normal(groups * cg).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)
    for wb in [(w, b), (None, None), (None, b), (w, None)]:
        got = be.group_norm_forward(x, *wb, groups, 1e-5)
        want = Backend.group_norm_forward(be, x, *wb, groups, 1e-5)
        for a, c in zip(got, want):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, c, **tol)
        for need in [(True, True, True), (True, False, False), (False, True, False), (False, False, True)]:
            gd = be.group_norm_backward(g, x, got[1], got[2], wb[0], groups, *need)
            wd = Backend.group_norm_backward(be, g, x, want[1], want[2], wb[0], groups, *need)
            for a, c in zip(gd, wd):
                assert (a is None) == (c is None)
                if a is not None:
                    assert a.dtype == dtype
                    np.testing.assert_allclose(a, c, **tol)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups, n, cg, s", [(1, 1, 1, 1), (3, 2, 2, 5), (2, 3, 4, 70)])
def test_cuda_kernels_match_reference(gpu, rng, dtype, groups, n, cg, s):  # noqa: F811
    xp = gpu.xp
    x = xp.array((rng.standard_normal((n * groups, cg, s)) - 3).astype(dtype))
    c = groups * cg
    w, b = xp.array(rng.standard_normal(c).astype(dtype)), xp.array(rng.standard_normal(c).astype(dtype))
    g = xp.array(rng.standard_normal(x.shape).astype(dtype))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)

    def close(a, c):
        assert (a is None) == (c is None)
        if a is not None:
            assert a.dtype == dtype
            np.testing.assert_allclose(a.get(), c.get(), **tol)

    for wb in [(w, b), (None, b)]:
        got = gpu.group_norm_forward(x, *wb, groups, 1e-5)
        want = Backend.group_norm_forward(gpu, x, *wb, groups, 1e-5)
        for a, c in zip(got, want):
            close(a, c)
        for need in [(True, True, True), (True, False, False), (False, True, True)]:
            gd = gpu.group_norm_backward(g, x, got[1], got[2], wb[0], groups, *need)
            wd = Backend.group_norm_backward(gpu, g, x, want[1], want[2], wb[0], groups, *need)
            for a, c in zip(gd, wd):
                close(a, c)
