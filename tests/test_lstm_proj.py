"""nn.LSTM with proj_size (h_t = W_hr·(o ⊙ tanh c_t)): against a float64 NumPy step loop, gradcheck (and double
backward) on every backend, PyTorch's state_dict keys, shapes, numbers and gradients, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from conftest import to_numpy, torch_or_skip
from gpunet import nn
from gpunet.nn.utils import rnn as R


def _sig(a):
    return 1 / (1 + np.exp(-a))


def _ref(m, x, h0, c0):
    """Time-major float64 loop over the module's weights (one direction, one layer)."""
    w = {k: to_numpy(v) for k, v in m.named_parameters()}
    H = m.hidden_size
    h, c, outs = h0, c0, []
    for t in range(x.shape[0]):
        a = x[t] @ w["weight_ih_l0"].T + w["bias_ih_l0"] + h @ w["weight_hh_l0"].T + w["bias_hh_l0"]
        i, f, g, o = _sig(a[:, :H]), _sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), _sig(a[:, 3 * H:])
        c = f * c + i * g
        h = (o * np.tanh(c)) @ w["weight_hr_l0"].T
        outs.append(h)
    return np.stack(outs), h, c


def test_forward_reference_and_gradcheck(backend, rng):
    dev = backend.device.split(":")[0]
    gn.manual_seed(0)
    m = nn.LSTM(3, 4, proj_size=2, dtype=np.float64).to(dev)
    assert [n for n, _ in m.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                     "weight_hr_l0"]
    assert tuple(m.weight_hh_l0.shape) == (16, 2) and tuple(m.weight_hr_l0.shape) == (2, 4)
    x, h0, c0 = rng.standard_normal((3, 2, 3)), rng.standard_normal((1, 2, 2)), rng.standard_normal((1, 2, 4))
    out, (hn, cn) = m(gn.tensor(x, device=dev), (gn.tensor(h0, device=dev), gn.tensor(c0, device=dev)))
    ro, rh, rc = _ref(m, x, h0[0], c0[0])
    np.testing.assert_allclose(to_numpy(out), ro, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(hn)[0], rh, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(cn)[0], rc, rtol=1e-12, atol=1e-12)
    m2 = nn.LSTM(2, 3, proj_size=1, num_layers=2, bidirectional=True, dtype=np.float64).to(dev)
    names = [n for n, _ in m2.named_parameters()]
    ws = [gn.tensor(to_numpy(p), device=dev, requires_grad=True) for p in m2.parameters()]
    xt = gn.tensor(rng.standard_normal((2, 2, 2)), device=dev, requires_grad=True)

    def fn(x, *w):
        for n, p in zip(names, w):
            m2._parameters[n] = p
        o, (h, c) = m2(x)
        return gn.cat([o.reshape(-1), h.reshape(-1), c.reshape(-1)])
    assert gn.gradcheck(fn, [xt] + ws, atol=1e-6, rtol=1e-4)

    def grad_x(x):
        o, _ = m(x)
        g, = gn.autograd.grad((o * o).sum(), x, create_graph=True)
        return g
    assert gn.gradcheck(grad_x, [gn.tensor(x, device=dev, requires_grad=True)], atol=1e-5, rtol=1e-3)


def test_errors():
    m = nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 2\)"):
        m(gn.zeros(5, 2, 3), (gn.zeros(1, 2, 4), gn.zeros(1, 2, 4)))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 2, 4\)"):
        m(gn.zeros(5, 2, 3), (gn.zeros(1, 2, 2), gn.zeros(1, 2, 2)))
    with pytest.raises(NotImplementedError, match="PackedSequence"):
        m(R.pack_sequence([gn.zeros(3, 3), gn.zeros(2, 3)]))
    with pytest.raises(ValueError, match="smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=5)
    assert tuple(m(gn.zeros(5, 3))[0].shape) == (5, 2)  # unbatched


@pytest.mark.torch
@pytest.mark.parametrize("cfg", [dict(), dict(num_layers=2, bidirectional=True, batch_first=True)])
def test_matches_torch(rng, cfg):
    torch = torch_or_skip()
    tm = torch.nn.LSTM(3, 5, proj_size=2, dtype=torch.float64, **cfg)
    m = nn.LSTM(3, 5, proj_size=2, dtype=np.float64, **cfg)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert list(sd) == list(m.state_dict())
    m.load_state_dict(sd)
    assert repr(m) == repr(tm)
    D, NL = (2 if cfg.get("bidirectional") else 1), cfg.get("num_layers", 1)
    bf = cfg.get("batch_first", False)
    x = rng.standard_normal((2, 4, 3) if bf else (4, 2, 3))
    h0, c0 = rng.standard_normal((D * NL, 2, 2)), rng.standard_normal((D * NL, 2, 5))
    tx, gx = torch.tensor(x, requires_grad=True), gn.tensor(x, requires_grad=True)
    to, (th, tc) = tm(tx, (torch.tensor(h0), torch.tensor(c0)))
    go, (gh, gc) = m(gx, (gn.tensor(h0), gn.tensor(c0)))
    for a, b in ((go, to), (gh, th), (gc, tc)):
        np.testing.assert_allclose(to_numpy(a), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    (to.sum() + 2 * th.sum() + 3 * tc.sum()).backward()
    (go.sum() + 2 * gh.sum() + 3 * gc.sum()).backward()
    np.testing.assert_allclose(to_numpy(gx.grad), tx.grad.numpy(), rtol=1e-11, atol=1e-12)
    params = dict(m.named_parameters())
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(to_numpy(params[k].grad), p.grad.numpy(), rtol=1e-11, atol=1e-12, err_msg=k)
