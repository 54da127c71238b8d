"""BatchNorm2d: statistics over N·H·W per channel, running statistics as PyTorch, gradients, state_dict."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip

import gpunet as gn
import gpunet.nn as nn
from gpunet.functional.normalization import batch_norm
from gpunet.nn.normalization import _BatchNorm


def _t(a, grad=False):
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def ref_bn2d(x, gamma, beta, eps):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma[None, :, None, None] + beta[None, :, None, None]


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (2, 5, 1, 3), (3, 2, 7, 1)])
def test_forward_and_running_stats(backend, rng, shape):
    x = rng.standard_normal(shape) * 2 + 1
    c = shape[1]
    bn = nn.BatchNorm2d(c).double()
    g, b = rng.standard_normal(c), rng.standard_normal(c)
    bn.weight.data[...] = backend.asarray(g)
    bn.bias.data[...] = backend.asarray(b)
    y = bn(_t(x))
    np.testing.assert_allclose(to_numpy(y), ref_bn2d(x, g, b, 1e-5), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(bn.running_mean), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(bn.running_var), 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 1


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gradcheck(backend, rng, training):
    x = _t(rng.standard_normal((3, 2, 3, 4)), True)
    g, b = _t(rng.standard_normal(2) + 1, True), _t(rng.standard_normal(2), True)
    rm, rv = _t(rng.standard_normal(2)), _t(rng.random(2) + 0.5)

    def f(x, g, b):
        return batch_norm(x, None if training else rm, None if training else rv, g, b, training=training)

    assert gn.gradcheck(f, [x, g, b])


def test_float32(backend, rng):
    x = (rng.standard_normal((8, 4, 5, 5)) * 0.1 + 100).astype(np.float32)
    y = nn.BatchNorm2d(4)(gn.tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(to_numpy(y), ref_bn2d(x.astype(np.float64), np.ones(4), np.zeros(4), 1e-5),
                               atol=2e-3)


def test_shared_base_and_errors():
    assert issubclass(nn.BatchNorm2d, _BatchNorm) and issubclass(nn.BatchNorm1d, _BatchNorm)
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"4-D \(N, C, H, W\)"):
        bn(gn.zeros(4, 3, 5))
    with pytest.raises(ValueError, match="num_features=3"):
        bn(gn.zeros(2, 4, 2, 2))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(gn.zeros(1, 3, 1, 1))
    assert repr(bn) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"


@pytest.mark.torch
@pytest.mark.parametrize("momentum", [0.1, None])
def test_matches_torch_over_training_steps(rng, momentum):
    torch = torch_or_skip()
    shape = (4, 3, 5, 6)
    tbn = torch.nn.BatchNorm2d(3, momentum=momentum).double()
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(rng.standard_normal(3)))
        tbn.bias.copy_(torch.tensor(rng.standard_normal(3)))
        tbn.running_mean.copy_(torch.tensor(rng.standard_normal(3)))
    bn = nn.BatchNorm2d(3, momentum=momentum).double()
    bn.load_state_dict({k: v.numpy() for k, v in tbn.state_dict().items()})
    for step in range(4):
        x = rng.standard_normal(shape) * (step + 1) + step
        g = rng.standard_normal(shape)
        tx = torch.tensor(x, requires_grad=True)
        ty = tbn(tx)
        ty.backward(torch.tensor(g))
        xt = gn.tensor(x, requires_grad=True)
        y = bn(xt)
        y.backward(g)
        np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(to_numpy(xt.grad), tx.grad.numpy(), rtol=1e-8, atol=1e-11)
        np.testing.assert_allclose(to_numpy(bn.weight.grad), tbn.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(to_numpy(bn.bias.grad), tbn.bias.grad.numpy(), rtol=1e-10)
        bn.zero_grad()
        tbn.zero_grad()
    sd, tsd = bn.state_dict(), tbn.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        np.testing.assert_allclose(sd[k], tsd[k].numpy(), rtol=1e-12, err_msg=k)
    bn.eval()
    tbn.eval()
    x = rng.standard_normal(shape)
    xt, tx = gn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = bn(xt), tbn(tx)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(to_numpy(xt.grad), tx.grad.numpy(), rtol=1e-10)
    assert repr(bn) == repr(tbn)


@pytest.mark.torch
def test_torch_state_dict_loads(rng):
    torch = torch_or_skip()
    tbn = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        for _ in range(3):
            tbn(torch.randn(5, 4, 3, 3) * 2 + 1)
    tbn.eval()
    bn = nn.BatchNorm2d(4)
    bn.load_state_dict({k: v.numpy() for k, v in tbn.state_dict().items()})
    bn.eval()
    assert int(bn.num_batches_tracked.item()) == 3
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(to_numpy(bn(x)), tbn(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channels_first_kernels_match_reference(rng, monkeypatch, training, affine, dtype):
    """The CPU's channels-first kernels against the reference (rows copy + the 2-D reference), threads split."""
    from gpunet.backend import _parallel
    from gpunet.backend.base import Backend

    be = gn.backend.get("numpy")
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1)
    monkeypatch.setattr(_parallel, "NUM_THREADS", 2)
    x = (rng.standard_normal((3, 5, 13)) * 2 + 50).astype(dtype)
    gamma = (rng.standard_normal(5) + 1).astype(dtype) if affine else None
    beta = rng.standard_normal(5).astype(dtype) if affine else None
    stats = [rng.standard_normal(5).astype(dtype), (rng.random(5) + 0.5).astype(dtype)]
    ref_stats = [s.copy() for s in stats]
    y, saved = be.batchnorm_cf_forward(x, gamma, beta, *stats, training, 0.1, 1e-5)
    ref = Backend(np)  # the reference ops alone
    ry, rsaved = ref.batchnorm_cf_forward(x, gamma, beta, *ref_stats, training, 0.1, 1e-5)
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(y, ry, **tol)
    for s, r in zip(stats, ref_stats):
        np.testing.assert_allclose(s, r, **tol)
    g = rng.standard_normal(x.shape).astype(dtype)
    got = be.batchnorm_cf_backward(saved, gamma, g, training)
    want = ref.batchnorm_cf_backward(rsaved, gamma, g, training)
    for a, b in zip(got, want):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, **tol)


def test_no_affine_no_running_stats(backend, rng):
    bn = nn.BatchNorm2d(3, affine=False, track_running_stats=False).double()
    assert list(bn.state_dict()) == []
    x = rng.standard_normal((2, 3, 4, 4))
    bn.eval()
    np.testing.assert_allclose(to_numpy(bn(_t(x))), ref_bn2d(x, np.ones(3), np.zeros(3), 1e-5), rtol=1e-10,
                               atol=1e-12)
    xt = _t(x, True)
    assert gn.gradcheck(lambda x: bn(x), [xt])


@pytest.mark.torch
def test_small_model_optimizer_steps_like_torch(rng):
    """BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Upsample, Flatten, Linear: a PyTorch state_dict
    loads and three Adam steps give the same losses, parameters and running statistics (float64)."""
    torch = torch_or_skip()

    def layers(m):
        return [m.BatchNorm2d(3), m.ReLU(), m.MaxPool2d(3, 2, 1, ceil_mode=True), m.Upsample(scale_factor=2),
                m.AvgPool2d(2, count_include_pad=False, padding=1), m.AdaptiveAvgPool2d((2, 3)), m.Flatten(),
                m.Linear(18, 4)]

    tm = torch.nn.Sequential(*layers(torch.nn)).double()
    m = nn.Sequential(*layers(nn)).double()
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    topt = torch.optim.Adam(tm.parameters(), lr=1e-2)
    opt = gn.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(3):
        x = rng.standard_normal((5, 3, 9, 8))
        y = rng.integers(0, 4, 5)
        tloss = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        loss = gn.functional.cross_entropy(m(gn.tensor(x)), gn.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(to_numpy(m.state_dict()[k]), v.numpy(), rtol=1e-8, atol=1e-10, err_msg=k)
