"""nn.TransformerDecoderLayer, nn.TransformerDecoder and the encoder-decoder nn.Transformer against PyTorch in
float64 (outputs, input and memory gradients, every parameter gradient, a few Adam steps), their structure and
errors, and the same model on every backend against NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn, optim

E, H, FF = 8, 2, 16


def _load(tm, gm):
    tm.double()
    gm.double()
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert list(sd) == list(gm.state_dict())
    gm.load_state_dict(sd)


def _grads_match(tm, gm, tol):
    tp = dict(tm.named_parameters())
    assert [n for n, _ in gm.named_parameters()] == list(tp)
    for name, p in gm.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[name].grad.numpy(), rtol=tol, atol=tol, err_msg=name)


def _run_both(torch, tm, gm, args, kw_t, kw_g, rng, tol=1e-10):
    """Forward both on ``args`` (NumPy inputs, all with gradients), backward a random cotangent, compare."""
    ta = [torch.tensor(a, requires_grad=True) for a in args]
    ga = [gn.tensor(a, requires_grad=True) for a in args]
    to, go = tm(*ta, **kw_t), gm(*ga, **kw_g)
    np.testing.assert_allclose(to_numpy(go), to.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(tuple(to.shape))
    to.backward(torch.tensor(g))
    go.backward(gn.tensor(g))
    for a, b in zip(ga, ta):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), rtol=tol, atol=tol)
    _grads_match(tm, gm, tol)


@pytest.mark.torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch(rng, batch_first, norm_first, activation):
    torch = torch_or_skip()
    kw = dict(dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    tm, gm = torch.nn.TransformerDecoderLayer(E, H, FF, **kw), nn.TransformerDecoderLayer(E, H, FF, **kw)
    _load(tm, gm)
    T, S, N = 4, 6, 3
    tgt = rng.standard_normal((N, T, E) if batch_first else (T, N, E))
    mem = rng.standard_normal((N, S, E) if batch_first else (S, N, E))
    _run_both(torch, tm, gm, [tgt, mem], {}, {}, rng)


@pytest.mark.torch
@pytest.mark.parametrize("masks", ["causal", "padding", "memory-mask", "unbatched"])
def test_decoder_masks_match_torch(rng, masks):
    torch = torch_or_skip()
    tl = torch.nn.TransformerDecoderLayer(E, H, FF, dropout=0.0, batch_first=True)
    tm = torch.nn.TransformerDecoder(tl, 2, norm=torch.nn.LayerNorm(E))
    gm = nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, FF, dropout=0.0, batch_first=True), 2,
                               norm=nn.LayerNorm(E))
    _load(tm, gm)
    T, S, N = 5, 4, 2
    tgt = rng.standard_normal((T, E) if masks == "unbatched" else (N, T, E))
    mem = rng.standard_normal((S, E) if masks == "unbatched" else (N, S, E))
    kw_t, kw_g = {}, {}
    if masks == "causal":  # tgt_is_causal=None: detected from the mask
        kw_t = dict(tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64))
        kw_g = dict(tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, dtype=np.float64))
    elif masks == "padding":
        tk, mk = np.zeros((N, T), bool), np.zeros((N, S), bool)
        tk[1, 3:], mk[0, 2:] = True, True
        kw_t = dict(tgt_key_padding_mask=torch.tensor(tk), memory_key_padding_mask=torch.tensor(mk))
        kw_g = dict(tgt_key_padding_mask=gn.tensor(tk), memory_key_padding_mask=gn.tensor(mk))
    elif masks == "memory-mask":
        mm = rng.standard_normal((T, S))
        kw_t, kw_g = dict(memory_mask=torch.tensor(mm)), dict(memory_mask=gn.tensor(mm))
    _run_both(torch, tm, gm, [tgt, mem], kw_t, kw_g, rng)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # torch's own encoder, about its fast path
@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, True)])
def test_transformer_matches_torch(rng, batch_first, norm_first):
    torch = torch_or_skip()
    kw = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=FF, dropout=0.0,
              batch_first=batch_first, norm_first=norm_first)
    tm, gm = torch.nn.Transformer(**kw), nn.Transformer(**kw)
    _load(tm, gm)
    S, T, N = 6, 4, 2
    src = rng.standard_normal((N, S, E) if batch_first else (S, N, E))
    tgt = rng.standard_normal((N, T, E) if batch_first else (T, N, E))
    sk = np.zeros((N, S), bool)
    sk[1, 4:] = True
    kw_t = dict(tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64),
                src_key_padding_mask=torch.tensor(sk), memory_key_padding_mask=torch.tensor(sk))
    kw_g = dict(tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, dtype=np.float64),
                src_key_padding_mask=gn.tensor(sk), memory_key_padding_mask=gn.tensor(sk))
    _run_both(torch, tm, gm, [src, tgt], kw_t, kw_g, rng)


@pytest.mark.torch
def test_adam_steps_match_torch(rng):
    torch = torch_or_skip()
    kw = dict(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=FF, dropout=0.0,
              batch_first=True)
    tm, gm = torch.nn.Transformer(**kw), nn.Transformer(**kw)
    _load(tm, gm)
    topt, gopt = torch.optim.Adam(tm.parameters(), lr=1e-2), optim.Adam(gm.parameters(), lr=1e-2)
    src, tgt, y = (rng.standard_normal((2, n, E)) for n in (5, 4, 4))
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    gmask = nn.Transformer.generate_square_subsequent_mask(4, dtype=np.float64)
    for _ in range(3):
        topt.zero_grad()
        gopt.zero_grad()
        lt = torch.nn.functional.mse_loss(tm(torch.tensor(src), torch.tensor(tgt), tgt_mask=tmask), torch.tensor(y))
        lg = F.mse_loss(gm(gn.tensor(src), gn.tensor(tgt), tgt_mask=gmask), gn.tensor(y))
        np.testing.assert_allclose(lg.item(), lt.item(), rtol=1e-10)
        lt.backward()
        lg.backward()
        topt.step()
        gopt.step()
    tp = dict(tm.named_parameters())
    for name, p in gm.named_parameters():
        np.testing.assert_allclose(to_numpy(p), tp[name].detach().numpy(), rtol=1e-9, atol=1e-10, err_msg=name)


def test_structure_init_and_errors():
    layer = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.2)
    assert [n for n, _ in layer.named_children()] == ["self_attn", "multihead_attn", "linear1", "dropout", "linear2",
                                                      "norm1", "norm2", "norm3", "dropout1", "dropout2", "dropout3"]
    dec = nn.TransformerDecoder(layer, 3)
    assert len(dec.layers) == 3 and dec.layers[0].linear1.weight is not dec.layers[1].linear1.weight
    model = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    assert model.d_model == 16 and model.nhead == 4 and not model.batch_first
    w = model.encoder.layers[0].linear1.weight.numpy()
    bound = np.sqrt(6 / (16 + 32))  # Xavier-uniform, as torch's _reset_parameters
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert list(model.state_dict())[-2:] == ["decoder.norm.weight", "decoder.norm.bias"]
    src, tgt = gn.zeros(5, 2, 16), gn.zeros(4, 3, 16)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(src, tgt)
    with pytest.raises(RuntimeError, match="feature number of src and tgt must be equal to d_model"):
        model(src, gn.zeros(4, 2, 8))
    with pytest.raises(TypeError, match="decoder_layer must be a Module"):
        nn.TransformerDecoder("layer", 2)
    with pytest.raises(RuntimeError, match="is_causal=True needs attn_mask"):
        layer(gn.zeros(4, 2, 16), gn.zeros(5, 2, 16), tgt_is_causal=True)
    custom = nn.Transformer(d_model=16, nhead=4, custom_encoder=nn.Identity(), num_decoder_layers=1,
                            dim_feedforward=32)
    assert isinstance(custom.encoder, nn.Identity)


def test_transformer_on_every_backend_matches_numpy(backend, rng):
    dev = backend.device.split(":")[0]

    def build():
        return nn.Transformer(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF,
                              dropout=0.0, batch_first=True).double()

    model = build()
    sd = {k: to_numpy(v) for k, v in model.state_dict().items()}
    model = model.to(dev)
    ref = build().to("cpu")
    ref.load_state_dict(sd)
    src, tgt = rng.standard_normal((2, 5, E)), rng.standard_normal((2, 3, E))
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=np.float64)
    results = []
    for m, where in ((ref, "cpu"), (model, dev)):
        s, t = gn.tensor(src, device=where, requires_grad=True), gn.tensor(tgt, device=where, requires_grad=True)
        out = m(s, t, tgt_mask=mask.to(where))
        out.backward(gn.tensor(np.linspace(-1, 1, out.size).reshape(out.shape), device=where))
        results.append((to_numpy(out), [to_numpy(s.grad), to_numpy(t.grad)] + [to_numpy(p.grad) for p in
                                                                                  m.parameters()]))
    (o0, g0), (o1, g1) = results
    np.testing.assert_allclose(o1, o0, rtol=1e-11, atol=1e-12)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-11)
