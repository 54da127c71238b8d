"""nn.MultiheadAttention against PyTorch in float64 (self / cross / key-value forms, masks, weights, layout and
initialisation), its errors, and a run on every backend (add_bias_kv / add_zero_attn: test_mha_bias_kv.py)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from gpunet import nn

from conftest import to_numpy, torch_or_skip
from test_attention import tens


# ---------------------------------------------------------------------------------------------- MultiheadAttention
def _mha_pair(torch, E=8, H=2, **kw):
    tm = torch.nn.MultiheadAttention(E, H, **kw).double()
    gm = nn.MultiheadAttention(E, H, **kw).double()
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, gm


def _compare(torch, tm, gm, t_inputs, g_inputs, kw_t, kw_g, rng, weights_close=True):
    to, tw = tm(*t_inputs, **kw_t)
    go, gw = gm(*g_inputs, **kw_g)
    np.testing.assert_allclose(to_numpy(go), to.detach().numpy(), rtol=1e-11, atol=1e-12)
    if tw is None:
        assert gw is None
    else:
        np.testing.assert_allclose(to_numpy(gw), tw.detach().numpy(), rtol=1e-11, atol=1e-12)
    g = rng.standard_normal(to.shape)
    to.backward(torch.tensor(g))
    go.backward(tens(g))
    for t, x in zip(t_inputs, g_inputs):
        if t.grad is not None:
            np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    tp = dict(tm.named_parameters())
    for name, p in gm.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("masks_", ["none", "kpm-bool", "attn-bool", "both-bool", "attn-float3d+kpm-bool",
                                    "kpm-float"])
def test_mha_self_attention_matches_torch(rng, batch_first, need_weights, average, masks_):
    torch = torch_or_skip()
    N, L, E, H = 3, 5, 8, 2
    tm, gm = _mha_pair(torch, E, H, batch_first=batch_first)
    x = rng.standard_normal((N, L, E) if batch_first else (L, N, E))
    kpm = rng.random((N, L)) > 0.7
    kpm[:, 0] = False
    am = rng.random((L, L)) > 0.7
    am[:, 0] = False
    kw_t, kw_g = {}, {}
    if "kpm-bool" in masks_:
        kw_t["key_padding_mask"], kw_g["key_padding_mask"] = torch.tensor(kpm), tens(kpm)
    if masks_ == "kpm-float":
        f = rng.standard_normal((N, L))
        kw_t["key_padding_mask"], kw_g["key_padding_mask"] = torch.tensor(f), tens(f)
    if masks_ in ("attn-bool", "both-bool"):
        kw_t["attn_mask"], kw_g["attn_mask"] = torch.tensor(am), tens(am)
    if masks_ == "both-bool":
        kw_t["key_padding_mask"], kw_g["key_padding_mask"] = torch.tensor(kpm), tens(kpm)
    if masks_ == "attn-float3d+kpm-bool":
        f = rng.standard_normal((N * H, L, L))
        kw_t["attn_mask"], kw_g["attn_mask"] = torch.tensor(f), tens(f)
    for kw in (kw_t, kw_g):
        kw.update(need_weights=need_weights, average_attn_weights=average)
    xt, xg = torch.tensor(x, requires_grad=True), tens(x, grad=True)
    _compare(torch, tm, gm, (xt, xt, xt), (xg, xg, xg), kw_t, kw_g, rng)


@pytest.mark.torch
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kind", ["cross", "kv-same", "kdim-vdim", "unbatched", "no-bias", "causal"])
def test_mha_other_forms_match_torch(rng, need_weights, kind):
    torch = torch_or_skip()
    E, H, N, L, S = 8, 2, 2, 4, 6
    kw = dict(kdim=5, vdim=3) if kind == "kdim-vdim" else dict(bias=False) if kind == "no-bias" else {}
    tm, gm = _mha_pair(torch, E, H, batch_first=True, **kw)
    kd, vd = kw.get("kdim", E), kw.get("vdim", E)
    shp = (lambda n, d: (n, d)) if kind == "unbatched" else (lambda n, d: (N, n, d))
    arrays = [rng.standard_normal(shp(L, E)), rng.standard_normal(shp(S, kd)), rng.standard_normal(shp(S, vd))]
    if kind in ("causal",):
        arrays = [arrays[0]] * 3
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    gs = [tens(a, grad=True) for a in arrays]
    if kind == "kv-same":
        ts[2], gs[2] = ts[1], gs[1]
    if kind == "causal":
        ts, gs = [ts[0]] * 3, [gs[0]] * 3
    kw_t, kw_g = dict(need_weights=need_weights), dict(need_weights=need_weights)
    if kind == "causal":
        cm = np.triu(np.ones((L, L), bool), 1)
        kw_t.update(attn_mask=torch.tensor(cm), is_causal=True)
        kw_g.update(attn_mask=tens(cm), is_causal=True)
    _compare(torch, tm, gm, ts, gs, kw_t, kw_g, rng)


@pytest.mark.torch
def test_mha_fully_masked_rows_as_torch(rng):
    torch = torch_or_skip()
    tm, gm = _mha_pair(torch, batch_first=True)
    x = rng.standard_normal((2, 3, 8))
    kpm = np.zeros((2, 3), bool)
    kpm[0] = True
    for nw in (True, False):
        to, tw = tm(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm), need_weights=nw)
        go, gw = gm(*(tens(x),) * 3, key_padding_mask=tens(kpm), need_weights=nw)
        np.testing.assert_allclose(to_numpy(go), to.detach().numpy(), rtol=1e-11, atol=1e-12)  # NaN == NaN
        assert np.isnan(to_numpy(go)[0]).all() == nw


def test_mha_layout_and_init():
    m = nn.MultiheadAttention(16, 4)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert m.in_proj_weight.shape == (48, 16) and isinstance(m.out_proj, nn.Linear)
    assert np.all(m.in_proj_bias.numpy() == 0) and np.all(m.out_proj.bias.numpy() == 0)
    bound = np.sqrt(6 / (16 + 48))
    w = m.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    m2 = nn.MultiheadAttention(16, 4, kdim=5, vdim=3, bias=False)
    assert [n for n, _ in m2.named_parameters()] == ["q_proj_weight", "k_proj_weight", "v_proj_weight",
                                                     "out_proj.weight"]
    assert m2.k_proj_weight.shape == (16, 5) and m2.in_proj_weight is None


def test_mha_errors_say_what_is_expected(rng):
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads.*embed_dim=10.*num_heads=3"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = tens(rng.standard_normal((2, 5, 8)), np.float32)
    with pytest.raises(ValueError, match=r"query must have 8 features.*\(2, 5, 6\)"):
        m(tens(np.zeros((2, 5, 6), np.float32)), x, x)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(2, 5\)"):
        m(x, x, x, key_padding_mask=tens(np.zeros((5, 2), bool)))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(5, 5\) \(L, S\) or \(4, 5, 5\)"):
        m(x, x, x, attn_mask=tens(np.zeros((2, 5, 5), bool)))
    with pytest.raises(TypeError, match="attn_mask must be bool.*int64"):
        m(x, x, x, attn_mask=tens(np.zeros((5, 5), np.int64)))
    with pytest.raises(RuntimeError, match="is_causal=True needs attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="same batch size"):
        m(x, tens(np.zeros((3, 5, 8), np.float32)), tens(np.zeros((3, 5, 8), np.float32)))


def test_mha_runs_on_every_backend(backend, rng):
    gn.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, batch_first=True).to(backend.device.split(":")[0])
    x = gn.tensor(rng.standard_normal((2, 3, 8)).astype(np.float32), device=backend.device.split(":")[0])
    x.requires_grad_()
    m.eval()
    kpm = gn.tensor(np.array([[False, False, True], [False, False, False]]), device=backend.device.split(":")[0])
    out, w = m(x, x, x, key_padding_mask=kpm)
    out2, _ = m(x, x, x, key_padding_mask=kpm, need_weights=False)
    np.testing.assert_allclose(to_numpy(out), to_numpy(out2), rtol=1e-5, atol=1e-6)
    assert w.shape == (2, 3, 3) and np.allclose(to_numpy(w)[0, :, 2], 0)
    out2.sum().backward()
    assert x.grad is not None and m.in_proj_weight.grad.shape == (24, 8)
