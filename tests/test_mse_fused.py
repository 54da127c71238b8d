"""mse_loss as one fused Function: forward against float64 NumPy, gradients by gradcheck on every backend and
against torch (every reduction, broadcasting, a target that requires grad or not), float32 accuracy of a long sum,
the compiled CPU path against the reference, and the double backward."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import backend as B
from gpunet.backend import _numba
from gpunet.backend._loss_ops import LossOps
from gpunet.functional.loss_pointwise import FusedMSE

from conftest import to_numpy, torch_or_skip, values_and_grads_like_torch

try:
    from cuda_emulator import emulator as _emulator
    from cuda_emulator.activate import emulating
    ORDERS = list(_emulator.ORDERS) if emulating() else [None]
except ImportError:  # the tests folder without its emulator
    ORDERS = [None]

REDUCTIONS = ("mean", "sum", "none")
# (input shape, target shape): equal, target broadcast up to the input, input broadcast up to the target
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((1, 4), (3, 4)), ((2, 3, 2), (3, 1)), ((5,), (5,)), ((), ())]


def _ref(x, y, reduction):
    sq = (np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2
    return sq if reduction == "none" else sq.sum() if reduction == "sum" else sq.mean()


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*a, **k)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", SHAPES)
def test_forward_matches_float64_numpy(backend, rng, reduction, dtype, shapes):
    x = rng.standard_normal(shapes[0]).astype(dtype)
    y = rng.standard_normal(shapes[1]).astype(dtype)
    out = _quiet(F.mse_loss, gn.tensor(x, requires_grad=True), gn.tensor(y), reduction=reduction)
    assert out.dtype == dtype and type(out.grad_fn) is FusedMSE
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(to_numpy(out), _ref(x, y, reduction), rtol=tol, atol=tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shapes", SHAPES[:4])
@pytest.mark.parametrize("target_grad", [True, False])
def test_gradcheck(backend, rng, reduction, shapes, target_grad):
    x = gn.tensor(rng.standard_normal(shapes[0]), dtype=np.float64, requires_grad=True)
    y = gn.tensor(rng.standard_normal(shapes[1]), dtype=np.float64, requires_grad=target_grad)
    assert gn.gradcheck(lambda a, b: _quiet(F.mse_loss, a, b, reduction=reduction), (x, y))


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shapes", SHAPES)
def test_values_and_grads_like_torch(rng, reduction, shapes):
    torch = torch_or_skip()
    x, y = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    values_and_grads_like_torch(lambda a, b: _quiet(F.mse_loss, a, b, reduction=reduction),
                                lambda a, b: _quiet(torch.nn.functional.mse_loss, a, b, reduction=reduction), x, y)


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_like_torch_with_a_constant_target(rng, reduction):
    torch = torch_or_skip()
    x, y = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    a = gn.tensor(x, dtype=np.float64, requires_grad=True)
    ta = torch.tensor(x, requires_grad=True)
    out, tout = gn.nn.MSELoss(reduction=reduction)(a, y), torch.nn.MSELoss(reduction=reduction)(ta, torch.tensor(y))
    g = rng.standard_normal(tout.shape)
    out.backward(gn.tensor(g, dtype=np.float64))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(a.grad), ta.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_broadcasting_warns_as_torch(backend):
    x = gn.tensor(np.zeros((3, 4)), requires_grad=True)
    with pytest.warns(UserWarning, match=r"target size \(\(4,\)\) that is different to the input size \(\(3, 4\)\)"):
        F.mse_loss(x, np.ones(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(x, np.ones((3, 4)))  # equal shapes: no warning


def test_broadcast_to_a_third_shape_raises(backend):
    with pytest.raises(ValueError, match=r"target shape \(3,\) does not match input shape \(3, 1\).*\(3, 3\)"):
        F.mse_loss(gn.tensor(np.zeros((3, 1)), requires_grad=True), np.zeros(3))
    with pytest.raises(ValueError, match=r"target shape \(2,\) does not match input shape \(3,\)"):
        F.mse_loss(gn.tensor(np.zeros(3), requires_grad=True), np.zeros(2))


def test_empty_mean_is_nan_and_sum_zero(backend):
    x = gn.tensor(np.zeros((0, 3), np.float32), requires_grad=True)
    assert np.isnan(F.mse_loss(x, np.zeros((0, 3))).item())
    loss = F.mse_loss(x, np.zeros((0, 3)), reduction="sum")
    assert loss.item() == 0.0
    loss.backward()
    assert x.grad.shape == (0, 3)


def test_float32_sum_over_4m_elements_keeps_its_digits():
    r = np.random.default_rng(7)
    x = (r.standard_normal(1 << 22) + 3).astype(np.float32)
    y = r.standard_normal(1 << 22).astype(np.float32)
    exact = _ref(x, y, "sum")
    got = F.mse_loss(gn.tensor(x), gn.tensor(y), reduction="sum").item()
    numpy_err = abs(float(np.sum((x - y) ** 2, dtype=np.float32)) - exact)
    assert abs(got - exact) <= max(numpy_err, 4 * np.finfo(np.float32).eps * exact)


@pytest.mark.skipif(_numba.kernels() is None, reason="the compiled CPU kernels are off")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("need", [(True, True), (True, False), (False, True)])
def test_compiled_path_matches_the_reference(rng, reduction, need):
    be = gn.use("numpy")
    x = rng.standard_normal((37, 29)).astype(np.float32)
    y = rng.standard_normal((37, 29)).astype(np.float32)
    ref = LossOps.mse_forward(be, x, y, reduction)
    np.testing.assert_allclose(be.mse_forward(x, y, reduction), ref, rtol=1e-6)
    g = np.asarray(rng.standard_normal(ref.shape), np.float32)
    got = be.mse_backward(x, y, g, reduction, x.size, *need)
    want = LossOps.mse_backward(be, x, y, g, reduction, x.size, *need)
    for a, b, n in zip(got, want, need):
        assert (a is None) == (not n)
        if n:
            assert a.base is None and a.shape == x.shape  # fresh: the engine adopts it without a copy
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_double_backward(rng, reduction):
    x = gn.tensor(rng.standard_normal((3, 4)), dtype=np.float64, requires_grad=True)
    y = gn.tensor(rng.standard_normal(4), dtype=np.float64, requires_grad=True)
    loss = _quiet(F.mse_loss, x, y, reduction=reduction)
    gx, gy = gn.autograd.grad(loss, (x, y), create_graph=True)
    (gx * gx).sum().backward()  # d/dx Σ(c(x − y))² = 2c² (x − y), c = 2/n or 2
    c = 2 / 12 if reduction == "mean" else 2.0
    d = to_numpy(x) - to_numpy(y)
    np.testing.assert_allclose(to_numpy(x.grad), 2 * c * c * d, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(y.grad), -2 * c * c * d.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(gy), -c * d.sum(axis=0), rtol=1e-12)


# ------------------------------------------------------------------------------------------------ CUDA kernels
@pytest.fixture(params=ORDERS, ids=lambda o: o or "device")
def thread_order(request):
    """On the CUDA emulator, blocks and threads run forward, reversed and shuffled; on a real GPU, once."""
    if request.param is None:
        yield None
        return
    _emulator.set_order(request.param)
    yield request.param
    _emulator.set_order(None)


@pytest.mark.gpu
@pytest.mark.parametrize("n", [1, 7, 1000, 9000])  # 9000: several rows of blocks (atomicAdd / second pass)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("deterministic", [False, True])
def test_cuda_kernels_match_the_reference(thread_order, rng, n, dtype, deterministic):
    be = B.get("cupy")
    x = be.xp.array(rng.standard_normal(n).astype(dtype))
    y = be.xp.array(rng.standard_normal(n).astype(dtype))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    prev = gn.are_deterministic_algorithms_enabled()
    gn.use_deterministic_algorithms(deterministic)
    try:
        for reduction in ("mean", "sum"):
            got, want = be.mse_forward(x, y, reduction), LossOps.mse_forward(be, x, y, reduction)
            assert got.shape == () and got.dtype == dtype
            np.testing.assert_allclose(to_numpy(got), to_numpy(want), **tol)
        for reduction, g in (("mean", be.xp.array(np.asarray(0.7, dtype))), ("sum", be.xp.array(np.asarray(-1.5, dtype))),
                             ("none", be.xp.array(rng.standard_normal(n).astype(dtype)))):
            for need in [(True, True), (True, False), (False, True)]:
                got = be.mse_backward(x, y, g, reduction, n, *need)
                want = LossOps.mse_backward(be, x, y, g, reduction, n, *need)
                for a, b, k in zip(got, want, need):
                    assert (a is None) == (not k)
                    if k:
                        np.testing.assert_allclose(to_numpy(a), to_numpy(b), **tol)
    finally:
        gn.use_deterministic_algorithms(prev)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_only_the_target_requires_grad(backend, rng, reduction):
    x, y = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    b = gn.tensor(y, dtype=np.float64, requires_grad=True)
    out = F.mse_loss(gn.tensor(x, dtype=np.float64), b, reduction=reduction)
    g = rng.standard_normal(out.shape)
    out.backward(gn.tensor(g, dtype=np.float64))
    scale = 2 / x.size if reduction == "mean" else 2.0
    np.testing.assert_allclose(to_numpy(b.grad), -scale * (x - y) * g, rtol=1e-12)


# ------------------------------------------------------------------------------- the gradient written in forward
@pytest.mark.skipif(_numba.kernels() is None, reason="the compiled CPU kernels are off")
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("need_x", [True, False])
@pytest.mark.parametrize("n", [37 * 29, 3 << 19])  # one span; split over the threads
def test_forward_grad_is_the_backward_of_an_upstream_one(rng, reduction, need_x, n):
    """The loss is bitwise mse_forward's and the gradient bitwise mse_backward's for g = 1."""
    be = gn.use("numpy")
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    loss, grad = be.mse_forward_grad(x, y, reduction, n, need_x)
    assert loss.dtype == np.float32 and loss == be.mse_forward(x, y, reduction)
    want = be.mse_backward(x, y, np.asarray(1.0, np.float32), reduction, n, need_x, not need_x)
    assert grad.base is None and np.array_equal(grad, want[0] if need_x else want[1])
    ref = LossOps.mse_forward_grad(be, x, y, reduction, n, need_x)
    assert ref[1] is None and np.allclose(ref[0], loss, rtol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 3.0])
@pytest.mark.parametrize("target_grad", [False, True])
def test_backward_with_the_forward_grad_like_the_plain_one(backend, rng, scale, target_grad):
    """loss.backward() (the gradient from forward), a scaled loss (recomputed), a retained graph run twice and a
    grad accumulated in place between the runs all give the float64 reference."""
    x0, y0 = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    x = gn.tensor(x0, requires_grad=not target_grad)
    y = gn.tensor(y0, requires_grad=target_grad)
    leaf = y if target_grad else x
    loss = F.mse_loss(x, y) * scale
    loss.backward(retain_graph=True)
    want = 2 * scale * (x0 - y0) / x0.size * (-1 if target_grad else 1)
    np.testing.assert_allclose(to_numpy(leaf.grad), want, rtol=1e-5, atol=1e-7)
    leaf.grad.data[...] = 0  # written in place: the retained graph must not hand out this memory again
    loss.backward()
    np.testing.assert_allclose(to_numpy(leaf.grad), want, rtol=1e-5, atol=1e-7)
    assert (x.grad is None) == target_grad and (y.grad is None) != target_grad
