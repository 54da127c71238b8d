"""nn.MultiheadAttention with add_bias_kv and add_zero_attn: PyTorch's parameters (bias_k, bias_v), state_dict and
numbers (outputs, weights, every gradient) over masks, layouts and self-/cross-attention; gradcheck on every
backend."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from conftest import to_numpy, torch_or_skip
from gpunet import nn


@pytest.mark.parametrize("bias_kv,zero_attn", [(True, False), (False, True), (True, True)])
def test_gradcheck_every_backend(backend, rng, bias_kv, zero_attn):
    dev = backend.device.split(":")[0]
    gn.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, add_bias_kv=bias_kv, add_zero_attn=zero_attn, batch_first=True,
                              dtype=np.float64).to(dev)
    assert (m.bias_k is not None) == bias_kv and m.add_zero_attn == zero_attn
    names = [n for n, _ in m.named_parameters()]
    ps = [gn.tensor(to_numpy(p), device=dev, requires_grad=True) for p in m.parameters()]
    x = gn.tensor(rng.standard_normal((2, 3, 4)), device=dev, requires_grad=True)
    kpm = gn.tensor(np.array([[False, False, True], [False] * 3]), device=dev)

    def fn(x, *w):
        for n, p in zip(names, w):
            if "." in n:
                m.out_proj._parameters[n.split(".")[1]] = p
            else:
                m._parameters[n] = p
        out, att = m(x, x, x, key_padding_mask=kpm)
        return gn.cat([out.reshape(-1), att.reshape(-1)])
    assert gn.gradcheck(fn, [x] + ps, atol=1e-6, rtol=1e-4)


@pytest.mark.torch
@pytest.mark.parametrize("bias_kv,zero_attn", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("batch_first", [False, True])  # batch-first runs self-attention, the other cross
@pytest.mark.parametrize("masks", ["kpm", "float", "both"])
def test_matches_torch(rng, bias_kv, zero_attn, batch_first, masks):
    torch = torch_or_skip()
    self_attn = batch_first
    kw = dict(add_bias_kv=bias_kv, add_zero_attn=zero_attn, batch_first=batch_first)
    tm = torch.nn.MultiheadAttention(6, 2, dtype=torch.float64, **kw)
    m = nn.MultiheadAttention(6, 2, dtype=np.float64, **kw)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert list(sd) == list(m.state_dict())
    m.load_state_dict(sd)
    N, L = 2, 3
    S = L if self_attn else 4
    q = rng.standard_normal((N, L, 6) if batch_first else (L, N, 6))
    kv = q if self_attn else rng.standard_normal((N, S, 6) if batch_first else (S, N, 6))
    kw_t, kw_g = {}, {}
    if masks in ("kpm", "both"):
        kpm = np.zeros((N, S), bool)
        kpm[1, 2:] = True
        kw_t["key_padding_mask"], kw_g["key_padding_mask"] = torch.tensor(kpm), gn.tensor(kpm)
    if masks in ("bool", "both"):
        am = rng.random((L, S)) > 0.7
        am[:, 0] = False
        kw_t["attn_mask"], kw_g["attn_mask"] = torch.tensor(am), gn.tensor(am)
    if masks == "float":
        am = rng.standard_normal((L, S))
        kw_t["attn_mask"], kw_g["attn_mask"] = torch.tensor(am), gn.tensor(am)
    for need_weights in (True, False):
        tq = torch.tensor(q, requires_grad=True)
        gq = gn.tensor(q, requires_grad=True)
        tk, gk = (tq, gq) if self_attn else (torch.tensor(kv), gn.tensor(kv))
        to, tw = tm(tq, tk, tk, need_weights=need_weights, **kw_t)
        go, gw = m(gq, gk, gk, need_weights=need_weights, **kw_g)
        np.testing.assert_allclose(to_numpy(go), to.detach().numpy(), rtol=1e-10, atol=1e-12)
        if need_weights:
            np.testing.assert_allclose(to_numpy(gw), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
        g = rng.standard_normal(tuple(to.shape))
        tm.zero_grad()
        m.zero_grad()
        to.backward(torch.tensor(g))
        go.backward(gn.tensor(g))
        np.testing.assert_allclose(to_numpy(gq.grad), tq.grad.numpy(), rtol=1e-10, atol=1e-12)
        params = dict(m.named_parameters())
        for k, p in tm.named_parameters():
            np.testing.assert_allclose(to_numpy(params[k].grad), p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)
