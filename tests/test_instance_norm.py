"""F.instance_norm and nn.InstanceNorm1d/2d: forward and running statistics against a float64 NumPy reference,
gradcheck on every backend, PyTorch's state_dict layout and numbers (train and eval), and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn


def _ref(x, w, b, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


@pytest.mark.parametrize("shape", [(3, 4, 7), (2, 3, 4, 5)])
@pytest.mark.parametrize("affine", [False, True])
def test_forward_running_stats_and_gradcheck(backend, rng, shape, affine):
    c = shape[1]
    x = rng.standard_normal(shape) * 3 + 2
    w, b = (rng.standard_normal(c), rng.standard_normal(c)) if affine else (None, None)
    rm, rv = gn.tensor(rng.standard_normal(c)), gn.tensor(rng.random(c) + 0.5)
    rm0, rv0 = to_numpy(rm).copy(), to_numpy(rv).copy()
    y = F.instance_norm(gn.tensor(x), rm, rv, None if w is None else gn.tensor(w), None if b is None else gn.tensor(b),
                        use_input_stats=True, momentum=0.25)
    np.testing.assert_allclose(to_numpy(y), _ref(x, w, b), rtol=1e-12, atol=1e-12)
    axes = tuple(range(2, x.ndim))
    n_pos = int(np.prod(shape[2:]))
    mean = x.mean(axis=axes).mean(axis=0)
    var = (x.var(axis=axes) * n_pos / (n_pos - 1)).mean(axis=0)
    np.testing.assert_allclose(to_numpy(rm), 0.75 * rm0 + 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(rv), 0.75 * rv0 + 0.25 * var, rtol=1e-12)
    ev = F.instance_norm(gn.tensor(x), rm, rv, use_input_stats=False)  # evaluation: the running statistics
    sh = (1, -1) + (1,) * (x.ndim - 2)
    np.testing.assert_allclose(to_numpy(ev), (x - to_numpy(rm).reshape(sh)) / np.sqrt(to_numpy(rv).reshape(sh) + 1e-5),
                               rtol=1e-12, atol=1e-12)
    xt = gn.tensor(x, requires_grad=True)
    args = [xt] + ([gn.tensor(w, requires_grad=True), gn.tensor(b, requires_grad=True)] if affine else [])
    assert gn.gradcheck(lambda x, *wb: F.instance_norm(x, None, None, *wb), args, atol=1e-6, rtol=1e-4)


def test_module_defaults_unbatched_and_errors(rng):
    m = nn.InstanceNorm2d(3)
    assert m.weight is None and m.running_mean is None and list(m.state_dict()) == []
    x = rng.standard_normal((3, 4, 5))
    np.testing.assert_allclose(to_numpy(m(gn.tensor(x))), _ref(x[None], None, None)[0], rtol=1e-5, atol=1e-5)
    a = nn.InstanceNorm1d(4, affine=True, track_running_stats=True)
    assert list(a.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features \(4\)"):
        a(gn.zeros(2, 3, 5))
    with pytest.warns(UserWarning, match="num_features"):
        nn.InstanceNorm1d(4)(gn.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="expected 3-D .* or 4-D input"):
        nn.InstanceNorm2d(3)(gn.zeros(2, 3))
    with pytest.raises(ValueError, match="use_input_stats is False"):
        F.instance_norm(gn.zeros(2, 3, 4), use_input_stats=False)


@pytest.mark.torch
@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (3, 4, 7)), ("InstanceNorm2d", (3, 4, 5, 6)),
                                       ("InstanceNorm2d", (4, 5, 6))])
@pytest.mark.parametrize("affine,track", [(False, False), (True, True), (False, True)])
def test_matches_torch(rng, cls, shape, affine, track):
    torch = torch_or_skip()
    tm = getattr(torch.nn, cls)(4, affine=affine, track_running_stats=track, momentum=0.3, dtype=torch.float64)
    gm = getattr(nn, cls)(4, affine=affine, track_running_stats=track, momentum=0.3, dtype=np.float64)
    if affine:
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(rng.standard_normal(4)))
            tm.bias.copy_(torch.tensor(rng.standard_normal(4)))
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert list(sd) == list(gm.state_dict())
    gm.load_state_dict(sd)
    assert repr(gm) == repr(tm)
    for mode in ("train", "train", "eval"):
        tm.train(mode == "train")
        gm.train(mode == "train")
        x = rng.standard_normal(shape) * 2 + 1
        tx, gx = torch.tensor(x, requires_grad=True), gn.tensor(x, requires_grad=True)
        ty, gy = tm(tx), gm(gx)
        np.testing.assert_allclose(to_numpy(gy), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        g = rng.standard_normal(tuple(ty.shape))
        ty.backward(torch.tensor(g))
        gy.backward(gn.tensor(g))
        np.testing.assert_allclose(to_numpy(gx.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
        for name, t in tm.state_dict().items():
            np.testing.assert_allclose(to_numpy(gm.state_dict()[name]), t.numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=name)
        if affine:
            for name in ("weight", "bias"):
                np.testing.assert_allclose(to_numpy(getattr(gm, name).grad), getattr(tm, name).grad.numpy(),
                                           rtol=1e-10, atol=1e-12)
