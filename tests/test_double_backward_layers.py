"""Double backward (create_graph=True) through the convolution, pooling, resizing and normalisation layers: the
gradient of a gradient checked by finite differences on every backend, in the input and the parameters, the
create_graph first-order gradient equal to the plain one, and a WGAN-GP gradient penalty against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn

LAYERS = {
    "conv2d": (lambda: nn.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 5)),
    "conv2d-strided-grouped": (lambda: nn.Conv2d(3, 6, 3, stride=2, padding=(1, 2), dilation=(1, 2), groups=3),
                               (2, 3, 6, 6)),
    "conv1d-unbatched": (lambda: nn.Conv1d(3, 2, 3), (3, 7)),
    "conv-transpose2d": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), (2, 3, 4, 4)),
    "conv-transpose2d-grouped": (lambda: nn.ConvTranspose2d(4, 2, 2, stride=(2, 1), padding=(0, 1), dilation=2,
                                                            groups=2), (1, 4, 4, 4)),
    "conv-transpose1d": (lambda: nn.ConvTranspose1d(3, 2, 3, stride=2), (2, 3, 5)),
    "max-pool": (lambda: nn.MaxPool2d(3, 2, 1), (2, 2, 6, 6)),
    "avg-pool-ceil": (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 2, 6, 6)),
    "avg-pool1d": (lambda: nn.AvgPool1d(3, 2, 1), (2, 2, 9)),
    "adaptive-avg": (lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 2, 5, 5)),
    "adaptive-max": (lambda: nn.AdaptiveMaxPool2d((3, 2)), (2, 2, 5, 5)),
    "bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 3, 4)),
    "batch-norm-train": (lambda: nn.BatchNorm2d(3), (4, 3, 3, 3)),
    "batch-norm-eval": (lambda: nn.BatchNorm2d(3).eval(), (2, 3, 3, 3)),
    "layer-norm": (lambda: nn.LayerNorm((3, 4)), (2, 5, 3, 4)),
    "rms-norm": (lambda: nn.RMSNorm(4), (3, 4)),
    "group-norm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "instance-norm": (lambda: nn.InstanceNorm2d(3, affine=True), (2, 3, 4, 4)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradient_of_gradient(backend, rng, name):
    build, shape = LAYERS[name]
    gn.manual_seed(0)
    m = build().double().to(backend.device.split(":")[0])
    if "batch-norm-eval" in name:  # running statistics away from (0, 1)
        m.running_mean.data[...] = backend.asarray(rng.standard_normal(3))
        m.running_var.data[...] = backend.asarray(rng.random(3) + 0.5)
    params = [p for p in m.parameters()]
    names = [n for n, _ in m.named_parameters()]
    x = gn.tensor(rng.standard_normal(shape), device=backend.device.split(":")[0], requires_grad=True)
    wts = gn.tensor(rng.standard_normal(tuple(m(x).shape)), device=backend.device.split(":")[0])

    def grad_x(x, *ps):
        for n, p in zip(names, ps):
            m._parameters[n] = p
        y = m(x)
        g, = gn.autograd.grad((y * y * wts).sum(), x, create_graph=True)
        return g

    checked = [x] + [gn.tensor(to_numpy(p), device=backend.device.split(":")[0], requires_grad=True) for p in params]
    assert gn.gradcheck(grad_x, checked, atol=1e-5, rtol=1e-3)
    y = m(x)
    g0, = gn.autograd.grad((y * y * wts).sum(), x)
    y = m(x)
    g1, = gn.autograd.grad((y * y * wts).sum(), x, create_graph=True)
    np.testing.assert_allclose(to_numpy(g1), to_numpy(g0), rtol=1e-9, atol=1e-11)


@pytest.mark.torch
def test_gradient_penalty_matches_torch(rng):
    """A WGAN-GP critic step: the penalty (‖∇ₓ D(x)‖ − 1)² through conv, LeakyReLU, InstanceNorm, avg-pool and
    linear layers; every parameter's gradient as PyTorch's."""
    torch = torch_or_skip()

    def critic(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(2, 4, 3, stride=2, padding=1), lib.nn.LeakyReLU(0.2),
                                 lib.nn.InstanceNorm2d(4, affine=True), lib.nn.Conv2d(4, 4, 3, padding=1),
                                 lib.nn.LeakyReLU(0.2), lib.nn.AvgPool2d(2), lib.nn.Flatten(), lib.nn.Linear(16, 1))

    tm = critic(torch).double()
    gm = critic(gn).double()
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((3, 2, 8, 8))
    tx, gx = torch.tensor(x, requires_grad=True), gn.tensor(x, requires_grad=True)
    tg, = torch.autograd.grad(tm(tx).sum(), tx, create_graph=True)
    gg, = gn.autograd.grad(gm(gx).sum(), gx, create_graph=True)
    tp = ((tg.reshape(3, -1).norm(dim=1) - 1) ** 2).mean()
    gp = ((gg.reshape(3, -1).norm(dim=1) - 1) ** 2).mean()
    np.testing.assert_allclose(gp.item(), tp.item(), rtol=1e-10)
    tp.backward()
    gp.backward()
    tparams = dict(tm.named_parameters())
    for name, p in gm.named_parameters():
        want = tparams[name].grad
        if p.grad is None:  # no path from this parameter to the penalty: torch's node structure may give zeros
            assert want is None or not want.any(), name
            continue
        np.testing.assert_allclose(to_numpy(p.grad), want.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


def _grad_fn(build, wrt):
    def fn(*xs):
        y = build(*xs)
        gs = gn.autograd.grad((y * y).sum(), list(xs[:wrt]), create_graph=True)
        return gn.cat([g.reshape(-1) for g in gs])
    return fn


ATTENTION = {
    "sdpa": (lambda q: F.scaled_dot_product_attention(q, q * 0.5, q), (2, 2, 4, 3)),
    "sdpa-causal": (lambda q: F.scaled_dot_product_attention(q, q, q, is_causal=True), (2, 2, 4, 3)),
    "sdpa-bool-mask-dead-row": (lambda q: F.scaled_dot_product_attention(
        q, q, q, attn_mask=gn.tensor(np.tril(np.ones((4, 4), bool)) & ~np.eye(4, dtype=bool)[[0, 3, 2, 1]],
                                     device=q.device)), (2, 2, 4, 3)),
}


@pytest.mark.parametrize("name", list(ATTENTION))
def test_attention_gradient_of_gradient(backend, rng, name):
    build, shape = ATTENTION[name]
    q = gn.tensor(rng.standard_normal(shape), device=backend.device.split(":")[0], requires_grad=True)
    assert gn.gradcheck(_grad_fn(build, 1), [q], atol=1e-5, rtol=1e-3)


def test_attention_float_mask_and_modules(rng):
    q = gn.tensor(rng.standard_normal((2, 2, 4, 3)), requires_grad=True)
    m = gn.tensor(rng.standard_normal((4, 4)), requires_grad=True)
    assert gn.gradcheck(_grad_fn(lambda q, m: F.scaled_dot_product_attention(q, q, q, attn_mask=m), 2), [q, m],
                        atol=1e-5, rtol=1e-3)
    gn.manual_seed(0)
    mha = nn.MultiheadAttention(6, 2, batch_first=True).double()
    kpm = gn.tensor(np.array([[False, False, True, True], [False] * 4]))
    enc = nn.TransformerEncoderLayer(6, 2, 8, dropout=0.0).double()
    for build, shape in ((lambda x: mha(x, x, x, need_weights=False)[0], (2, 4, 6)),
                         (lambda x: mha(x, x, x, key_padding_mask=kpm)[0], (2, 4, 6)),
                         (lambda x: enc(x), (4, 2, 6))):
        x = gn.tensor(rng.standard_normal(shape), requires_grad=True)
        assert gn.gradcheck(_grad_fn(build, 1), [x], atol=1e-5, rtol=1e-3)


def test_embedding_gradient_of_gradient(backend, rng):
    dev = backend.device.split(":")[0]
    idx = gn.tensor(np.array([[0, 1, 3], [3, 3, 4]]), device=dev)
    x = gn.tensor(rng.standard_normal((2, 3, 3)), device=dev, requires_grad=True)
    w = gn.tensor(rng.standard_normal((5, 3)), device=dev, requires_grad=True)
    assert gn.gradcheck(_grad_fn(lambda x, w: (F.embedding(idx, w) * x).sum(-1), 2), [x, w], atol=1e-5, rtol=1e-3)
    # padding_idx and scale_grad_by_freq shape the gradient (no finite difference agrees with those by design):
    # the create_graph gradient is still the plain one
    for kw in (dict(padding_idx=1), dict(padding_idx=3, scale_grad_by_freq=True)):
        y = F.embedding(idx, w, **kw)
        g0, = gn.autograd.grad((y * y).sum(), w)
        y = F.embedding(idx, w, **kw)
        g1, = gn.autograd.grad((y * y).sum(), w, create_graph=True)
        np.testing.assert_allclose(to_numpy(g1), to_numpy(g0), rtol=1e-12, atol=1e-12)


@pytest.mark.slow  # ~25 s in all on 2 cores: run by .ci/run's pytest -m slow
@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("cfg", [dict(), dict(bidirectional=True), dict(packed=True)])
def test_recurrent_gradient_of_gradient(backend, rng, mode, cfg):
    """(A stack of layers chains these nodes; one layer-direction each way is what is new.)"""
    from gpunet.nn.utils import rnn as R

    dev = backend.device.split(":")[0]
    cfg = dict(cfg)
    packed = cfg.pop("packed", False)
    cls = {"lstm": nn.LSTM, "gru": nn.GRU}.get(mode, nn.RNN)
    kw = dict(nonlinearity=mode[4:]) if mode.startswith("rnn") else {}
    gn.manual_seed(0)
    m = cls(2, 2, **kw, **cfg).double().to(dev)
    names = [n for n, _ in m.named_parameters()]
    x = gn.tensor(rng.standard_normal((2, 2, 2)), device=dev, requires_grad=True)  # (L, N, H_in)
    ps = [gn.tensor(to_numpy(p), device=dev, requires_grad=True) for p in m.parameters()]

    def fn(x, *w):
        for n, p in zip(names, w):
            m._parameters[n] = p
        out, hn = m(R.pack_padded_sequence(x, [2, 1]) if packed else x)
        o = out.data if packed else out
        h = hn[0] if mode == "lstm" else hn
        gs = gn.autograd.grad((o * o).sum() + (h * h).sum(), [x] + list(w), create_graph=True)
        return gn.cat([g.reshape(-1) for g in gs])
    assert gn.gradcheck(fn, [x] + ps, atol=1e-5, rtol=1e-3)
