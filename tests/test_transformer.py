"""nn.TransformerEncoderLayer / nn.TransformerEncoder against PyTorch, and the causal-mask helper."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import nn, optim

from conftest import to_numpy, torch_or_skip

E, H, FF = 8, 2, 16


def _pair(torch, num_layers=None, final_norm=False, **kw):
    """A torch model and the gpunet one with its state_dict loaded (float64)."""
    tl = torch.nn.TransformerEncoderLayer(E, H, FF, **kw)
    gl = nn.TransformerEncoderLayer(E, H, FF, **kw)
    if num_layers is None:
        tm, gm = tl, gl
    else:
        tm = torch.nn.TransformerEncoder(tl, num_layers, norm=torch.nn.LayerNorm(E) if final_norm else None,
                                         enable_nested_tensor=False)
        gm = nn.TransformerEncoder(gl, num_layers, norm=nn.LayerNorm(E) if final_norm else None)
    tm.double()
    gm.double()
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert list(sd) == list(gm.state_dict())
    gm.load_state_dict(sd)
    return tm, gm


def _check(torch, tm, gm, x, rng, kw_t=None, kw_g=None, tol=1e-10):
    xt, xg = torch.tensor(x, requires_grad=True), gn.tensor(x, requires_grad=True)
    to, go = tm(xt, **(kw_t or {})), gm(xg, **(kw_g or {}))
    np.testing.assert_allclose(to_numpy(go), to.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(to.shape)
    to.backward(torch.tensor(g))
    go.backward(gn.tensor(g))
    np.testing.assert_allclose(to_numpy(xg.grad), xt.grad.numpy(), rtol=tol, atol=tol)
    tp = dict(tm.named_parameters())
    names = [n for n, _ in gm.named_parameters()]
    assert names == list(tp)
    for name, p in gm.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[name].grad.numpy(), rtol=tol, atol=tol, err_msg=name)


@pytest.mark.torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(rng, batch_first, norm_first, activation):
    torch = torch_or_skip()
    tm, gm = _pair(torch, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    x = rng.standard_normal((3, 5, E))
    _check(torch, tm, gm, x, rng)


@pytest.mark.torch
@pytest.mark.parametrize("masks", ["kpm", "causal-mask", "float-mask", "unbatched"])
def test_encoder_layer_masks_match_torch(rng, masks):
    torch = torch_or_skip()
    tm, gm = _pair(torch, dropout=0.0, batch_first=True)
    N, L = 3, 5
    x = rng.standard_normal((L, E) if masks == "unbatched" else (N, L, E))
    kw_t, kw_g = {}, {}
    if masks == "kpm":
        kpm = rng.random((N, L)) > 0.6
        kpm[:, 0] = False
        kw_t, kw_g = dict(src_key_padding_mask=torch.tensor(kpm)), dict(src_key_padding_mask=gn.tensor(kpm))
    elif masks == "causal-mask":
        cm = nn.Transformer.generate_square_subsequent_mask(L, dtype=np.float64)
        kw_t = dict(src_mask=torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64),
                    is_causal=True)
        kw_g = dict(src_mask=cm, is_causal=True)
    elif masks == "float-mask":
        fm = rng.standard_normal((L, L))
        kw_t, kw_g = dict(src_mask=torch.tensor(fm)), dict(src_mask=gn.tensor(fm))
    _check(torch, tm, gm, x, rng, kw_t, kw_g)


@pytest.mark.torch
@pytest.mark.parametrize("causal", [False, True])
def test_encoder_two_layers_final_norm_matches_torch(rng, causal):
    torch = torch_or_skip()
    tm, gm = _pair(torch, num_layers=2, final_norm=True, dropout=0.0)
    assert [k for k in gm.state_dict()][:2] == ["layers.0.self_attn.in_proj_weight",
                                                "layers.0.self_attn.in_proj_bias"]
    L, N = 4, 2
    x = rng.standard_normal((L, N, E))
    kw_t = kw_g = None
    if causal:  # is_causal=None: detected from the mask
        kw_t = dict(mask=torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64))
        kw_g = dict(mask=nn.Transformer.generate_square_subsequent_mask(L, dtype=np.float64))
    _check(torch, tm, gm, x, rng, kw_t, kw_g)


@pytest.mark.torch
def test_adam_steps_match_torch(rng):
    torch = torch_or_skip()
    tm, gm = _pair(torch, num_layers=2, dropout=0.0, batch_first=True, norm_first=True)
    topt, gopt = torch.optim.Adam(tm.parameters(), lr=1e-2), optim.Adam(gm.parameters(), lr=1e-2)
    x, y = rng.standard_normal((2, 6, E)), rng.standard_normal((2, 6, E))
    kpm = np.zeros((2, 6), bool)
    kpm[1, 4:] = True
    for _ in range(3):
        topt.zero_grad()
        gopt.zero_grad()
        lt = torch.nn.functional.mse_loss(tm(torch.tensor(x), src_key_padding_mask=torch.tensor(kpm)),
                                          torch.tensor(y))
        lg = F.mse_loss(gm(gn.tensor(x), src_key_padding_mask=gn.tensor(kpm)), gn.tensor(y))
        np.testing.assert_allclose(lg.item(), lt.item(), rtol=1e-10)
        lt.backward()
        lg.backward()
        topt.step()
        gopt.step()
    tp = dict(tm.named_parameters())
    for name, p in gm.named_parameters():
        np.testing.assert_allclose(to_numpy(p), tp[name].detach().numpy(), rtol=1e-9, atol=1e-10, err_msg=name)


def test_layer_structure_and_errors():
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.2)
    assert [n for n, _ in layer.named_children()] == ["self_attn", "linear1", "dropout", "linear2", "norm1",
                                                      "norm2", "dropout1", "dropout2"]
    assert layer.activation_relu_or_gelu == 1 and layer.self_attn.dropout == 0.2
    assert nn.TransformerEncoderLayer(16, 4, activation=F.gelu).activation_relu_or_gelu == 2
    assert nn.TransformerEncoderLayer(16, 4, activation=nn.GELU()).activation_relu_or_gelu == 2
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(16, 4, activation="tanh")
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads"):
        nn.TransformerEncoderLayer(10, 4)
    enc = nn.TransformerEncoder(layer, 3)
    assert len(enc.layers) == 3 and enc.layers[0] is not layer
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.numpy(), enc.layers[2].linear1.weight.numpy())
    x = gn.tensor(np.zeros((5, 2, 16), np.float32))
    with pytest.raises(TypeError, match="only bool and floating types of mask"):
        enc(x, mask=gn.tensor(np.zeros((5, 5), np.int64)))
    with pytest.raises(ValueError, match="query must have 16 features"):
        enc(gn.tensor(np.zeros((5, 2, 8), np.float32)))


def test_square_subsequent_mask():
    m = nn.Transformer.generate_square_subsequent_mask(3)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])


def test_custom_activation_and_dropout_train_eval(rng):
    gn.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.5, activation=lambda t: t.tanh(), batch_first=True)
    x = gn.tensor(rng.standard_normal((2, 3, E)).astype(np.float32))
    a, b = layer(x).numpy(), layer(x).numpy()
    assert not np.allclose(a, b)  # dropout draws anew in training
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())


def test_encoder_runs_on_every_backend(backend, rng):
    gn.manual_seed(0)
    dev = backend.device.split(":")[0]
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, batch_first=True), 2).to(dev)
    x = gn.tensor(rng.standard_normal((2, 4, E)).astype(np.float32), device=dev)
    kpm = gn.tensor(np.array([[False] * 4, [False, False, True, True]]), device=dev)
    out = enc(x, src_key_padding_mask=kpm)
    assert out.shape == (2, 4, E) and np.isfinite(to_numpy(out)).all()
    out.sum().backward()
    assert enc.layers[1].self_attn.in_proj_weight.grad is not None



def test_encoder_on_every_backend_matches_numpy(backend, rng):
    """The same float64 encoder (float mask, padding, pre-norm layers, final norm) on this backend and on NumPy:
    outputs and every gradient."""
    dev = backend.device.split(":")[0]
    x = rng.standard_normal((2, 4, E))
    kpm = np.array([[False] * 4, [False, False, True, True]])
    mask = rng.standard_normal((4, 4))

    def build():
        layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, batch_first=True, norm_first=True)
        return nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(E)).double()

    enc = build()
    sd = {k: to_numpy(v) for k, v in enc.state_dict().items()}
    ref = build().to("cpu")
    ref.load_state_dict(sd)
    results = []
    for model, where in ((ref, "cpu"), (enc, dev)):
        xt = gn.tensor(x, device=where, requires_grad=True)
        out = model(xt, mask=gn.tensor(mask, device=where), src_key_padding_mask=gn.tensor(kpm, device=where))
        out.backward(gn.tensor(np.linspace(-1, 1, out.size).reshape(out.shape), device=where))
        results.append((to_numpy(out), [to_numpy(xt.grad)] + [to_numpy(p.grad) for p in model.parameters()]))
    (o0, g0), (o1, g1) = results
    np.testing.assert_allclose(o1, o0, rtol=1e-11, atol=1e-12)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-11)
