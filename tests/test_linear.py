"""F.linear (fused linear + activation), nn.Linear and the Sequential fusion."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import to_numpy

import gpunet as gn
import gpunet.nn as nn
from gpunet.functional.linear import FUSED_ACTIVATIONS, LinearAct, LinearChain, linear

ACTS = [None] + list(FUSED_ACTIVATIONS)
_erf = np.vectorize(math.erf)


def ref_act(z, act, slope=0.01):
    """NumPy float64 reference of every fused activation."""
    if act in (None, "identity"):
        return z
    if act == "relu":
        return np.maximum(z, 0)
    if act == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if act == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if act == "tanh":
        return np.tanh(z)
    if act == "gelu":
        return 0.5 * z * (1 + _erf(z / math.sqrt(2)))
    if act == "gelu_tanh":
        return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
    if act == "silu":
        return z / (1 + np.exp(-z))
    raise AssertionError(act)


def _t(a, grad=True):
    return gn.tensor(a, dtype=np.float64, requires_grad=grad)


@pytest.mark.parametrize("act", ACTS)
def test_linear_forward_matches_numpy(backend, rng, act):
    x, W, b = rng.standard_normal((7, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    y = linear(_t(x, False), _t(W, False), _t(b, False), activation=act)
    np.testing.assert_allclose(to_numpy(y), ref_act(x @ W.T + b, act), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ACTS)
def test_linear_gradcheck(backend, rng, act):
    x, W, b = _t(rng.standard_normal((6, 4))), _t(rng.standard_normal((3, 4))), _t(rng.standard_normal(3))
    assert gn.gradcheck(lambda x, W, b: linear(x, W, b, activation=act), [x, W, b])


def test_linear_leaky_slope_and_no_bias(backend, rng):
    x, W = rng.standard_normal((6, 4)), rng.standard_normal((3, 4))
    y = linear(_t(x, False), _t(W, False), None, activation="leaky_relu", negative_slope=0.2)
    np.testing.assert_allclose(to_numpy(y), ref_act(x @ W.T, "leaky_relu", 0.2), rtol=1e-12)
    xt, Wt = _t(x), _t(W)
    assert gn.gradcheck(lambda x, W: linear(x, W, activation="leaky_relu", negative_slope=0.2), [xt, Wt])


@pytest.mark.parametrize("shape", [(5,), (2, 3, 5), (2, 1, 3, 5)])
def test_linear_any_leading_dims(backend, rng, shape):
    x, W, b = rng.standard_normal(shape), rng.standard_normal((4, 5)), rng.standard_normal(4)
    xt = _t(x)
    y = linear(xt, _t(W), _t(b), activation="tanh")
    assert y.shape == shape[:-1] + (4,)
    np.testing.assert_allclose(to_numpy(y), np.tanh(x @ W.T + b), rtol=1e-12)
    assert gn.gradcheck(lambda x: linear(x, _t(W, False), _t(b, False), activation="tanh"), [xt])


def test_linear_skips_input_gradient(backend, rng):
    x = _t(rng.standard_normal((4, 3)), grad=False)
    W, b = _t(rng.standard_normal((2, 3))), _t(rng.standard_normal(2))
    seen = {}
    real = backend.linear_act_backward

    def spy(*args, **kw):
        seen.update(kw)
        return real(*args, **kw)

    backend.linear_act_backward = spy
    try:
        linear(x, W, b, activation="relu").sum().backward()
    finally:
        del backend.linear_act_backward
    assert seen["need_x"] is False and seen["need_W"] and seen["need_b"]
    assert x.grad is None and W.grad is not None


def test_linear_is_one_function(rng):
    y = linear(_t(rng.standard_normal((2, 3))), _t(rng.standard_normal((4, 3))), None, activation="gelu")
    assert isinstance(y.grad_fn, LinearAct)


def test_linear_errors():
    W = gn.zeros(4, 3)
    with pytest.raises(ValueError, match="in_features=3"):
        linear(gn.zeros(2, 5), W)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        linear(gn.zeros(2, 3), W, gn.zeros(3))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        linear(gn.zeros(2, 3), W, activation="swish")


# ---------------------------------------------------------------------- nn.Linear
def test_linear_module_shapes_and_init(backend):
    gn.manual_seed(0)
    m = nn.Linear(400, 30)
    assert m.weight.shape == (30, 400) and m.bias.shape == (30,)
    assert m.weight.dtype == np.float32 and m.weight.device == backend.device
    bound = 1 / math.sqrt(400)
    w, b = to_numpy(m.weight), to_numpy(m.bias)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-a, a) has std a/sqrt(3)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_module_same_seed_same_weights():
    gn.manual_seed(7)
    a = nn.Linear(5, 3)
    gn.manual_seed(7)
    b = nn.Linear(5, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())


@pytest.mark.parametrize("act", ["relu", "gelu_tanh", "identity"])
def test_linear_module_activation(rng, act):
    m = nn.Linear(3, 2, activation=act).double()
    x = rng.standard_normal((4, 3))
    W, b = to_numpy(m.weight), to_numpy(m.bias)
    np.testing.assert_allclose(to_numpy(m(x)), ref_act(x @ W.T + b, act), rtol=1e-12)
    assert ("activation=" in repr(m)) == (act != "identity")
    with pytest.raises(ValueError, match="unknown activation"):
        nn.Linear(3, 2, activation="softmax")


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    tl = torch.nn.Linear(5, 4).double()
    m = nn.Linear(5, 4).double()
    m.load_state_dict({k: v.detach().numpy() for k, v in tl.state_dict().items()})
    x = rng.standard_normal((6, 5))
    g = rng.standard_normal((6, 4))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tanh(tl(tx))
    ty.backward(torch.tensor(g))
    xt = gn.tensor(x, requires_grad=True)
    y = nn.Sequential(m, nn.Tanh())(xt)
    y.backward(g)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(xt.grad), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(m.weight.grad), tl.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(m.bias.grad), tl.bias.grad.numpy(), rtol=1e-12)
    assert repr(m) == repr(tl)


# ---------------------------------------------------------------------- Sequential fusion
@pytest.mark.parametrize("act_module", [nn.ReLU(), nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Tanh(), nn.GELU(),
                                        nn.GELU(approximate="tanh"), nn.SiLU()], ids=repr)
def test_sequential_fuses_linear_and_activation(backend, rng, act_module):
    gn.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 6), act_module, nn.Linear(6, 2)).double()
    x = rng.standard_normal((8, 5))
    xt = gn.tensor(x, requires_grad=True)
    y = model(xt)
    y.sum().backward()
    fused = {n: to_numpy(p.grad) for n, p in model.named_parameters()}
    fused_x = to_numpy(xt.grad)
    model.zero_grad()
    xs = gn.tensor(x, requires_grad=True)  # the same modules run one by one
    h = model[0](xs)
    y_sep = model[2](act_module(h))
    y_sep.sum().backward()
    assert type(h.grad_fn) is LinearAct and model[0].activation is None
    np.testing.assert_allclose(to_numpy(y), to_numpy(y_sep), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused_x, to_numpy(xs.grad), rtol=1e-10, atol=1e-12)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(fused[n], to_numpy(p.grad), rtol=1e-10, atol=1e-12, err_msg=n)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_linear_weight_replaced_by_a_plain_tensor(rng):
    """Linear reads its parameter table directly on the hot path; a weight deleted and set again as a plain
    tensor attribute (as weight-norm style code does) is still the one used, fused or not."""
    layer = nn.Linear(3, 4)
    model = nn.Sequential(layer, nn.ReLU())
    x = gn.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    w = gn.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    b = to_numpy(layer.bias)
    del layer.weight
    layer.weight = w
    expected = np.maximum(to_numpy(x) @ to_numpy(w).T + b, 0)
    np.testing.assert_allclose(to_numpy(model(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(x) @ to_numpy(w).T + b, rtol=1e-5, atol=1e-6)
    model(x).sum().backward()
    assert w.grad is not None and w.grad.shape == (4, 3)


def test_sequential_runs_each_run_of_linear_layers_as_one_op(rng, monkeypatch):
    import gpunet.nn.container as container

    calls = []

    def recording(real, kind):
        class Recording:
            @staticmethod
            def apply(*a, **k):
                calls.append((kind, k.get("acts", k.get("act"))))
                return real.apply(*a, **k)
        return Recording

    monkeypatch.setattr(container, "LinearAct", recording(container.LinearAct, "one"))
    monkeypatch.setattr(container, "LinearChain", recording(container.LinearChain, "chain"))
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.Dropout(0.1), nn.Linear(4, 2),
                          nn.Tanh(), nn.Linear(2, 2, activation="relu"), nn.Sigmoid(), nn.Linear(2, 3))
    y = model(rng.standard_normal((2, 3)))
    # Linear->Dropout ends a run; Linear(activation=...)->Sigmoid is not fused, so Sigmoid runs on its own and
    # the Linear after it is a run of one
    assert calls == [("chain", ("relu", "identity")), ("chain", ("tanh", "relu")), ("one", "identity")]
    assert type(y.grad_fn) is LinearAct


def test_sequential_plan_follows_every_change_to_the_model(rng):
    """Sequential caches which modules it fuses; any change to any module after a forward is seen by the next."""
    model = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.1), nn.Linear(4, 2)).double()
    x = gn.tensor(rng.standard_normal((5, 3)))

    def check():
        h = x
        for m in model:
            h = m(h)
        np.testing.assert_allclose(to_numpy(model(x)), to_numpy(h), rtol=1e-12, atol=1e-12)

    check()
    model[1].negative_slope = 0.5
    check()
    model[1] = nn.Tanh()
    check()
    model[2].weight = nn.Parameter(gn.tensor(rng.standard_normal((2, 4))))
    check()
    model[0].activation = "sigmoid"
    check()
    model.append(nn.ReLU())
    check()
    del model[1]
    check()
    model[1].bias = None
    check()


ARCHS = [  # (sizes, activation modules between layers (None: a plain Linear), biases)
    ([5, 6, 3], [nn.ReLU()], True),
    ([4, 7, 7, 2], [nn.Tanh(), nn.LeakyReLU(0.3)], True),
    ([3, 5, 4, 6, 2], [nn.Sigmoid(), None, nn.GELU()], False),
    ([6, 4, 5], [nn.SiLU()], "first"),
]


def _mlp(sizes, acts, bias):
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(nn.Linear(a, b, bias=bias is True or (bias == "first" and i == 0)))
        if i < len(acts) and acts[i] is not None:
            mods.append(acts[i])
    return nn.Sequential(*mods).double()


@pytest.mark.parametrize("sizes, acts, bias", ARCHS)
def test_linear_chain_matches_modules_run_apart_and_finite_differences(backend, rng, sizes, acts, bias):
    gn.manual_seed(2)
    model = _mlp(sizes, acts, bias)
    x = rng.standard_normal((int(rng.integers(1, 9)), sizes[0]))
    xt = gn.tensor(x, requires_grad=True)
    y = model(xt)
    assert type(y.grad_fn) is LinearChain
    g = rng.standard_normal(y.shape)
    y.backward(g)
    chained = {n: to_numpy(p.grad) for n, p in model.named_parameters()}
    model.zero_grad()
    xs = gn.tensor(x, requires_grad=True)
    h = xs
    for m in model:  # the same modules one by one, each its own op
        h = m(h)
    h.backward(g)
    np.testing.assert_allclose(to_numpy(y), to_numpy(h), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(xt.grad), to_numpy(xs.grad), rtol=1e-12, atol=1e-12)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(chained[n], to_numpy(p.grad), rtol=1e-12, atol=1e-12, err_msg=n)
    # the op itself against finite differences, every input differentiable (None biases stay None)
    layers = [m for m in model if type(m) is nn.Linear]
    acts_ = tuple({None: "identity", nn.ReLU: "relu", nn.Tanh: "tanh", nn.LeakyReLU: "leaky_relu",
                   nn.Sigmoid: "sigmoid", nn.GELU: "gelu", nn.SiLU: "silu"}[type(a) if a is not None else None]
                  for a in acts) + ("identity",)
    alphas = tuple(a.negative_slope if type(a) is nn.LeakyReLU else 0.01 for a in acts) + (0.01,)
    args = [gn.tensor(x, requires_grad=True)]
    for m in layers:
        args += [_t(to_numpy(m.weight)), None if m.bias is None else _t(to_numpy(m.bias))]
    assert gn.gradcheck(lambda *a: LinearChain.apply(*a, acts=acts_, alphas=alphas), args)


@pytest.mark.parametrize("strided", [False, True])
def test_linear_chain_large_layers_match_modules_run_apart(backend, rng, strided):
    """Layers past the CPU's one-call small-layer size: GEMMs, and the activation pass writing over the gradient
    the layer above made, never over the caller's upstream gradient (contiguous or strided)."""
    gn.manual_seed(3)
    model = _mlp([40, 64, 48, 10], [nn.LeakyReLU(0.1), nn.Sigmoid(), nn.Tanh()], True)
    x = rng.standard_normal((96, 40))
    g = rng.standard_normal((96, 20))[:, ::2] if strided else rng.standard_normal((96, 10))
    g_before = g.copy()
    xt = gn.tensor(x, requires_grad=True)
    y = model(xt)
    y.backward(g)
    chained = [to_numpy(p.grad) for p in model.parameters()]
    model.zero_grad()
    xs = gn.tensor(x, requires_grad=True)
    h = xs
    for m in model:
        h = m(h)
    h.backward(g)
    np.testing.assert_array_equal(g, g_before)
    np.testing.assert_allclose(to_numpy(y), to_numpy(h), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(xt.grad), to_numpy(xs.grad), rtol=1e-11, atol=1e-12)
    for a, p in zip(chained, model.parameters()):
        np.testing.assert_allclose(a, to_numpy(p.grad), rtol=1e-11, atol=1e-12)


def test_linear_chain_gradients_only_where_needed(backend, rng):
    """Frozen first layer, input without grad: the first layer computes no dX, dW or db, and nothing reaches
    the input; the later layers get their gradients. (Layers too big for the CPU's one-call small chain, so
    each layer's backward is the backend's linear_act_backward.)"""
    model = _mlp([48, 64, 40, 2], [nn.ReLU(), nn.Tanh()], True)
    for p in model[0].parameters():
        p.requires_grad = False
    seen = []
    real = backend.linear_act_backward

    def spy(*args, **kw):
        seen.append((kw["need_x"], kw["need_W"], kw["need_b"]))
        return real(*args, **kw)

    backend.linear_act_backward = spy
    try:
        model(rng.standard_normal((6, 48))).sum().backward()
    finally:
        del backend.linear_act_backward
    assert seen == [(True, True, True), (False, True, True)]  # last layer first; the first layer is never run
    assert model[0].weight.grad is None and model[2].weight.grad is not None and model[4].bias.grad is not None


@pytest.mark.parametrize("shape", [(5,), (2, 3, 5)])
def test_linear_chain_any_leading_dims(backend, rng, shape):
    model = _mlp([5, 4, 3], [nn.Tanh()], True)
    x = rng.standard_normal(shape)
    xt = gn.tensor(x, requires_grad=True)
    y = model(xt)
    W0, b0, W1, b1 = (to_numpy(p) for p in model.parameters())
    assert y.shape == shape[:-1] + (3,)
    np.testing.assert_allclose(to_numpy(y), np.tanh(x @ W0.T + b0) @ W1.T + b1, rtol=1e-12)
    assert gn.gradcheck(model, [xt])


def test_linear_chain_shape_error_names_the_layer_sizes(rng):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(ValueError, match="in_features=5"):
        model(rng.standard_normal((2, 3)))


def test_linear_chain_under_no_grad_records_nothing(rng):
    model = _mlp([3, 4, 2], [nn.ReLU()], True)
    with gn.no_grad():
        y = model(rng.standard_normal((2, 3)))
    assert y.grad_fn is None and not y.requires_grad
