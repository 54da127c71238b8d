"""F.batch_norm and nn.BatchNorm1d."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy

import gpunet as gn
import gpunet.nn as nn
from gpunet.functional.normalization import BatchNorm, batch_norm


def _t(a, grad=False):
    return gn.tensor(a, dtype=np.float64, requires_grad=grad)


def ref_bn(x, gamma, beta, eps, mean=None, var=None):
    """NumPy float64 reference over axis 1 of (N, C) or (N, C, L); batch statistics unless mean/var given."""
    axes = (0,) if x.ndim == 2 else (0, 2)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return y * gamma.reshape(shape) + beta.reshape(shape)


SHAPES = [(6, 3), (4, 3, 5)]


@pytest.mark.parametrize("shape", SHAPES)
def test_train_forward_and_running_stats(backend, rng, shape):
    x = rng.standard_normal(shape) * 3 + 2
    g, b = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = _t(np.zeros(3)), _t(np.ones(3))
    y = batch_norm(_t(x), rm, rv, _t(g), _t(b), training=True, momentum=0.1, eps=1e-5)
    np.testing.assert_allclose(to_numpy(y), ref_bn(x, g, b, 1e-5), rtol=1e-10, atol=1e-12)
    axes = (0,) if x.ndim == 2 else (0, 2)
    np.testing.assert_allclose(to_numpy(rm), 0.1 * x.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(rv), 0.9 + 0.1 * x.var(axis=axes, ddof=1), rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_eval_uses_running_stats(backend, rng, shape):
    x = rng.standard_normal(shape)
    g, b = rng.standard_normal(3), rng.standard_normal(3)
    m, v = rng.standard_normal(3), rng.random(3) + 0.5
    rm, rv = _t(m), _t(v)
    y = batch_norm(_t(x), rm, rv, _t(g), _t(b), training=False, eps=1e-3)
    np.testing.assert_allclose(to_numpy(y), ref_bn(x, g, b, 1e-3, m, v), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(to_numpy(rm), m)  # untouched in eval


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck(backend, rng, shape, training):
    x = _t(rng.standard_normal(shape), True)
    g, b = _t(rng.standard_normal(3) + 1, True), _t(rng.standard_normal(3), True)
    rm, rv = _t(rng.standard_normal(3)), _t(rng.random(3) + 0.5)

    def f(x, g, b):
        return batch_norm(x, None if training else rm, None if training else rv, g, b, training=training)

    assert gn.gradcheck(f, [x, g, b])


def test_gradcheck_without_affine_or_bias(backend, rng):
    x = _t(rng.standard_normal((5, 2, 3)), True)
    assert gn.gradcheck(lambda x: batch_norm(x, training=True), [x])
    g = _t(rng.standard_normal(2), True)
    assert gn.gradcheck(lambda x, g: batch_norm(x, weight=g, training=True), [x, g])
    bn = nn.BatchNorm1d(2, bias=False)
    assert bn.bias is None and list(bn.state_dict())[:2] == ["weight", "running_mean"]


def test_is_one_function(rng):
    y = batch_norm(_t(rng.standard_normal((4, 3)), True), training=True)
    assert isinstance(y.grad_fn, BatchNorm)


def test_errors():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(gn.zeros(1, 3))
    bn(gn.zeros(1, 3, 2))  # two values per channel is enough (as torch)
    with pytest.raises(ValueError, match="num_features=3"):
        bn(gn.zeros(4, 5))
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        bn(gn.zeros(4, 3, 2, 2))
    bn.eval()
    bn(gn.zeros(1, 3))  # evaluation with one sample is fine
    with pytest.raises(ValueError, match="running_mean"):
        batch_norm(gn.zeros(2, 3), training=False)


def test_module_buffers_and_counter(backend, rng):
    bn = nn.BatchNorm1d(4)
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    for _ in range(3):
        bn(rng.standard_normal((8, 4)))
    assert int(bn.num_batches_tracked.item()) == 3
    bn.eval()
    bn(rng.standard_normal((8, 4)))
    assert int(bn.num_batches_tracked.item()) == 3
    assert repr(bn) == ("BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                        "track_running_stats=True)")


def test_momentum_none_is_cumulative_average(rng):
    bn = nn.BatchNorm1d(2, momentum=None).double()
    batches = [rng.standard_normal((5, 2)) + i for i in range(4)]
    for x in batches:
        bn(x)
    np.testing.assert_allclose(to_numpy(bn.running_mean), np.mean([x.mean(0) for x in batches], axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(to_numpy(bn.running_var),
                               np.mean([x.var(0, ddof=1) for x in batches], axis=0), rtol=1e-12)


def test_no_running_stats_uses_batch_in_eval(rng):
    bn = nn.BatchNorm1d(3, track_running_stats=False, affine=False).double()
    assert list(bn.state_dict()) == [] and bn.running_mean is None
    x = rng.standard_normal((6, 3))
    bn.eval()
    np.testing.assert_allclose(to_numpy(bn(x)), ref_bn(x, np.ones(3), np.zeros(3), 1e-5), rtol=1e-10)


def test_float32_stable_with_large_mean(backend, rng):
    # E[x²] − E[x]² in float32 would lose every digit of the variance here (ulp(1e6) ≫ 0.01)
    x = (rng.standard_normal((256, 4)) * 0.1 + 1e3).astype(np.float32)
    bn = nn.BatchNorm1d(4)
    y = to_numpy(bn(x))
    ref = ref_bn(x.astype(np.float64), np.ones(4), np.zeros(4), 1e-5)
    np.testing.assert_allclose(y, ref, atol=1e-2)


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_torch_over_training_steps(rng, shape):
    torch = pytest.importorskip("torch")
    tbn = torch.nn.BatchNorm1d(3).double()
    bn = nn.BatchNorm1d(3).double()
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(rng.standard_normal(3)))
        tbn.bias.copy_(torch.tensor(rng.standard_normal(3)))
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
        np.testing.assert_allclose(to_numpy(xt.grad), tx.grad.numpy(), rtol=1e-8, atol=1e-12)
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
    np.testing.assert_allclose(to_numpy(bn(x)), tbn(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    assert repr(bn) == repr(tbn)
