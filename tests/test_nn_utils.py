"""gpunet.nn.utils (clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters) against
torch.nn.utils, and the nn.functional module alias."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpunet as gn
from gpunet import nn
from gpunet.nn.utils import clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters

from conftest import EMULATED, to_numpy, torch_or_skip


def _pair(torch, shapes, rng, none_at=()):
    """gpunet and torch float64 parameters with the same values and gradients (grad None at ``none_at``)."""
    gps, tps = [], []
    for i, s in enumerate(shapes):
        v = rng.standard_normal(s)
        p = nn.Parameter(gn.tensor(v))
        t = torch.nn.Parameter(torch.tensor(v))
        if i not in none_at:
            g = rng.standard_normal(s) * 3
            p.grad = gn.tensor(g)
            t.grad = torch.tensor(g)
        gps.append(p)
        tps.append(t)
    return gps, tps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, "inf", -math.inf, 0.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(backend, rng, norm_type, max_norm):
    torch = torch_or_skip()
    gps, tps = _pair(torch, [(3, 4), (5,), (), (2, 2, 2)], rng, none_at=(1,))
    got = clip_grad_norm_(gps, max_norm, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert isinstance(got, gn.Tensor) and got.shape == () and got.dtype == np.float64
    assert got.device == backend.device
    np.testing.assert_allclose(to_numpy(got), want.item(), rtol=1e-12)
    for p, t in zip(gps, tps):
        assert (p.grad is None) == (t.grad is None)
        if p.grad is not None:
            np.testing.assert_allclose(to_numpy(p.grad), t.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_single_tensor_empty_and_mixed_dtypes(backend):
    torch = torch_or_skip()
    p = nn.Parameter(gn.tensor(np.ones(3)))
    out = clip_grad_norm_([p], 1.0)  # no gradient at all: 0, as torch
    assert float(out) == 0.0 and p.grad is None
    p.grad = gn.tensor(np.array([3.0, 4.0, 0.0]))
    out = clip_grad_norm_(p, 1.0)  # a single tensor
    assert float(out) == pytest.approx(5.0)
    np.testing.assert_allclose(to_numpy(p.grad), np.array([3.0, 4.0, 0.0]) / (5.0 + 1e-6))
    # float32 and float64 gradients: the total norm has the promoted dtype, as torch.stack's
    a = nn.Parameter(gn.tensor(np.ones(3, np.float32)))
    b = nn.Parameter(gn.tensor(np.ones(2)))
    a.grad, b.grad = gn.tensor(np.array([3.0, 4.0, 0.0], np.float32)), gn.tensor(np.ones(2))
    ta, tb = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    ta.grad, tb.grad = torch.tensor([3.0, 4.0, 0.0]), torch.ones(2, dtype=torch.float64)
    got, want = clip_grad_norm_([a, b], 1.0), torch.nn.utils.clip_grad_norm_([ta, tb], 1.0)
    assert got.dtype == np.float64 and a.grad.dtype == np.float32
    np.testing.assert_allclose(to_numpy(got), want.item(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(a.grad), ta.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(b.grad), tb.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_nonfinite(backend):
    p = nn.Parameter(gn.tensor(np.ones(3)))
    p.grad = gn.tensor(np.array([np.nan, 1.0, 1.0]))
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    out = clip_grad_norm_([p], 1.0)  # scaled by the NaN norm, as torch
    assert np.isnan(float(out)) and np.isnan(to_numpy(p.grad)).all()


def test_clip_grad_norm_float32_model(backend, rng):
    torch = torch_or_skip()
    gn.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    m(gn.randn(16, 4)).sum().backward()
    tps = []
    for p in m.parameters():
        t = torch.nn.Parameter(torch.tensor(p.numpy().astype(np.float64)))
        t.grad = torch.tensor(to_numpy(p.grad))
        tps.append(t)
    got = clip_grad_norm_(m.parameters(), 0.1)  # a generator, as model.parameters() in torch
    want = torch.nn.utils.clip_grad_norm_(tps, 0.1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(to_numpy(got), want.item(), rtol=1e-5)
    for p, t in zip(m.parameters(), tps):
        np.testing.assert_allclose(to_numpy(p.grad), t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_has_no_host_sync(backend):
    if backend.name != "cupy":
        pytest.skip("host syncs are a GPU matter")
    if not EMULATED:
        pytest.skip("sync counts come from the CUDA emulator's CuPy (on a GPU: python -m bench.host_syncs)")
    from cuda_emulator import fakecupy

    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    m(gn.randn(16, 4)).sum().backward()
    m[0].bias.grad = None  # skipped
    for norm_type in (2.0, 1.0, math.inf, 3.0):
        fakecupy.reset_syncs()
        total = clip_grad_norm_(m.parameters(), 0.5, norm_type=norm_type)
        clip_grad_value_(m.parameters(), 0.01)
        assert fakecupy.syncs() == 0, fakecupy.SYNC_KINDS
        assert total.device == backend.device
    fakecupy.reset_syncs()  # the counter sees a read: error_if_nonfinite must read the norm (as torch)
    clip_grad_norm_(m.parameters(), 0.5, error_if_nonfinite=True)
    assert fakecupy.syncs() == 1


@pytest.mark.parametrize("clip", [0.5, 2])
def test_clip_grad_value_matches_torch(backend, rng, clip):
    torch = torch_or_skip()
    gps, tps = _pair(torch, [(3, 4), (5,), ()], rng, none_at=(2,))
    assert clip_grad_value_(gps, clip) is None
    torch.nn.utils.clip_grad_value_(tps, clip)
    for p, t in zip(gps, tps):
        if p.grad is not None:
            np.testing.assert_allclose(to_numpy(p.grad), t.grad.numpy())
    p = gps[0]
    v0 = p.grad._version
    clip_grad_value_(p, 0.1)  # a single tensor
    assert np.abs(to_numpy(p.grad)).max() <= 0.1 and p.grad._version == v0 + 1


def test_parameters_to_vector_and_back(backend, rng):
    torch = torch_or_skip()
    gps, tps = _pair(torch, [(3, 4), (5,), (2, 1)], rng)
    vec = parameters_to_vector(gps)
    tvec = torch.nn.utils.parameters_to_vector(tps)
    assert vec.shape == (19,)
    np.testing.assert_allclose(to_numpy(vec), tvec.detach().numpy())
    # differentiable, as torch's
    w = rng.standard_normal(19)
    (vec * gn.tensor(w)).sum().backward()
    (tvec * torch.tensor(w)).sum().backward()
    for p, t in zip(gps, tps):
        np.testing.assert_allclose(to_numpy(p.grad), t.grad.numpy())
    new = rng.standard_normal(19)
    v, tv = gn.tensor(new), torch.tensor(new)
    vector_to_parameters(v, gps)
    torch.nn.utils.vector_to_parameters(tv, tps)
    for p, t in zip(gps, tps):
        assert p.shape == tuple(t.shape)
        np.testing.assert_allclose(to_numpy(p), t.detach().numpy())
    with gn.no_grad():
        v[0] = 100.0  # the parameters share vec's memory, as torch's
    assert float(gps[0].numpy()[0, 0]) == 100.0
    with pytest.raises(TypeError, match="expected gpunet.Tensor"):
        vector_to_parameters([1.0, 2.0], gps)
    with pytest.raises(RuntimeError, match="at least"):
        vector_to_parameters(gn.tensor(np.zeros(3)), gps)
    # the parameters still train after being rebound
    (gps[0] * 2).sum().backward()


def test_nn_functional_is_gpunet_functional():
    import gpunet.functional
    import gpunet.nn.functional as F
    from gpunet.nn import functional as F2
    import gpunet.nn.init as I

    assert F is gpunet.functional and F2 is F and I is gn.init
    assert F.relu is gpunet.functional.relu
