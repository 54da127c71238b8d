"""Recurrent layers against PyTorch in float64: a torch ``state_dict`` loaded into the gpunet module gives the same
output, h_n, c_n and every gradient (input, initial states, each parameter); cells; a few Adam steps."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from conftest import to_numpy, torch_or_skip
from gpunet import nn

pytestmark = pytest.mark.torch

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def _pair(mode, torch, *args, **kw):
    if mode.startswith("rnn"):
        return (nn.RNN(*args, nonlinearity=mode[4:], dtype=np.float64, **kw),
                torch.nn.RNN(*args, nonlinearity=mode[4:], dtype=torch.float64, **kw))
    g, t = {"lstm": (nn.LSTM, torch.nn.LSTM), "gru": (nn.GRU, torch.nn.GRU)}[mode]
    return g(*args, dtype=np.float64, **kw), t(*args, dtype=torch.float64, **kw)


def _load(m, tm):
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", [dict(), dict(num_layers=2, bidirectional=True), dict(batch_first=True),
                                 dict(bias=False, num_layers=2), dict(unbatched=True, bidirectional=True)])
def test_like_torch_with_state_dict(backend, mode, cfg, rng):
    torch = torch_or_skip()
    cfg = dict(cfg)
    unb = cfg.pop("unbatched", False)
    L, N, I, H = 5, 3, 4, 6
    m, tm = _pair(mode, torch, I, H, **cfg)
    _load(m, tm)
    D = 2 if cfg.get("bidirectional") else 1
    nl = cfg.get("num_layers", 1)
    xs = (L, I) if unb else ((N, L, I) if cfg.get("batch_first") else (L, N, I))
    hs = (D * nl, H) if unb else (D * nl, N, H)
    xa, ha, ca = rng.standard_normal(xs), rng.standard_normal(hs), rng.standard_normal(hs)
    x, h0, c0 = (gn.tensor(a, requires_grad=True) for a in (xa, ha, ca))
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (xa, ha, ca))
    lstm = mode == "lstm"
    out, hn = m(x, (h0, c0) if lstm else h0)
    tout, thn = tm(tx, (th0, tc0) if lstm else th0)
    outs, touts = [out] + (list(hn) if lstm else [hn]), [tout] + (list(thn) if lstm else [thn])
    loss = tloss = 0
    for k, (a, b) in enumerate(zip(outs, touts)):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(to_numpy(a), b.detach().numpy(), rtol=1e-12, atol=1e-13)
        w = rng.standard_normal(a.shape)
        loss = loss + (a * gn.tensor(w)).sum()
        tloss = tloss + (b * torch.tensor(w)).sum()
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(to_numpy(h0.grad), th0.grad.numpy(), rtol=1e-11, atol=1e-12)
    if lstm:
        np.testing.assert_allclose(to_numpy(c0.grad), tc0.grad.numpy(), rtol=1e-11, atol=1e-12)
    tparams = dict(tm.named_parameters())
    names = [n for n, _ in m.named_parameters()]
    assert names == list(tparams)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tparams[n].grad.numpy(), rtol=1e-11, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_like_torch(backend, name, batched, rng):
    torch = torch_or_skip()
    kw = dict(nonlinearity="relu") if name == "RNNCell" and batched else {}
    m, tm = getattr(nn, name)(4, 5, dtype=np.float64, **kw), getattr(torch.nn, name)(4, 5, dtype=torch.float64, **kw)
    _load(m, tm)
    xs, hs = ((3, 4), (3, 5)) if batched else ((4,), (5,))
    xa, ha, ca = rng.standard_normal(xs), rng.standard_normal(hs), rng.standard_normal(hs)
    x, h, c = (gn.tensor(a, requires_grad=True) for a in (xa, ha, ca))
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (xa, ha, ca))
    lstm = name == "LSTMCell"
    out = m(x, (h, c) if lstm else h)
    tout = tm(tx, (th, tc) if lstm else th)
    outs, touts = (list(out), list(tout)) if lstm else ([out], [tout])
    w = [rng.standard_normal(o.shape) for o in outs]
    sum((o * gn.tensor(v)).sum() for o, v in zip(outs, w)).backward()
    sum((o * torch.tensor(v)).sum() for o, v in zip(touts, w)).backward()
    for a, b in zip(outs, touts):
        np.testing.assert_allclose(to_numpy(a), b.detach().numpy(), rtol=1e-12, atol=1e-13)
    for a, b in [(x, tx), (h, th)] + ([(c, tc)] if lstm else []):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), rtol=1e-11, atol=1e-12)
    tparams = dict(tm.named_parameters())
    for n, p in m.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tparams[n].grad.numpy(), rtol=1e-11, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_adam_steps_of_a_small_model_like_torch(mode, rng):
    torch = torch_or_skip()
    m, tm = _pair(mode, torch, 3, 5, num_layers=2, batch_first=True)
    _load(m, tm)
    head, thead = nn.Linear(5, 2, dtype=np.float64), torch.nn.Linear(5, 2, dtype=torch.float64)
    head.load_state_dict({k: v.detach().numpy() for k, v in thead.state_dict().items()})
    params = list(m.parameters()) + list(head.parameters())
    tparams = list(tm.parameters()) + list(thead.parameters())
    opt, topt = gn.optim.Adam(params, lr=1e-2), torch.optim.Adam(tparams, lr=1e-2)
    x, y = rng.standard_normal((4, 6, 3)), rng.standard_normal((4, 6, 2))
    for _ in range(4):
        opt.zero_grad()
        topt.zero_grad()
        out, _ = m(gn.tensor(x))
        loss = ((head(out) - gn.tensor(y)) ** 2).mean()
        tout, _ = tm(torch.tensor(x))
        tloss = ((thead(tout) - torch.tensor(y)) ** 2).mean()
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-11)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(to_numpy(p), tp.detach().numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("mode", MODES)
def test_float32_state_dict_like_torch(mode, rng):
    """Default dtype: a torch float32 state_dict gives torch's float32 numbers to float32 rounding."""
    torch = torch_or_skip()
    if mode.startswith("rnn"):
        tm = torch.nn.RNN(8, 16, num_layers=2, nonlinearity=mode[4:])
        m = nn.RNN(8, 16, num_layers=2, nonlinearity=mode[4:])
    else:
        tm = getattr(torch.nn, mode.upper())(8, 16, num_layers=2)
        m = getattr(nn, mode.upper())(8, 16, num_layers=2)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((9, 4, 8)).astype(np.float32)
    out, _ = m(gn.tensor(x))
    tout, _ = tm(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-5, atol=3e-6)
