"""Module, Parameter, Sequential/ModuleList, activation and loss modules, and a worked training step."""
from __future__ import annotations

import copy
import re
import importlib.util

import numpy as np
import pytest
from conftest import to_numpy

import gpunet as gn
import gpunet.nn as nn


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
        self.scale = nn.Parameter(gn.ones(2))
        self.register_buffer("offset", gn.zeros(2))
        self.register_buffer("scratch", gn.zeros(1), persistent=False)

    def forward(self, x):
        return self.layers(x) * self.scale + self.offset


# ---------------------------------------------------------------------- registration and traversal
def test_named_parameters_buffers_and_children():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["scale", "layers.0.weight", "layers.0.bias",
                                                       "layers.2.weight", "layers.2.bias"]
    assert [n for n, _ in net.named_buffers()] == ["offset", "scratch"]
    assert list(net.state_dict()) == ["scale", "offset", "layers.0.weight", "layers.0.bias", "layers.2.weight",
                                      "layers.2.bias"]
    assert [type(m).__name__ for m in net.children()] == ["Sequential"]
    assert [n for n, _ in net.named_modules()] == ["", "layers", "layers.0", "layers.1", "layers.2"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert net.get_submodule("layers.2") is net.layers[2]


def test_shared_parameters_once_and_reassignment():
    lin = nn.Linear(2, 2)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(model.parameters())) == 2
    net = Net()
    net.scale = None
    assert [n for n, _ in net.named_parameters()][0] == "layers.0.weight"
    with pytest.raises(TypeError, match="Parameter or None"):
        net.scale = gn.ones(2)
    net.offset = np.ones(2, dtype=np.float32)  # buffers take arrays
    assert isinstance(net.offset, gn.Tensor)
    del net.layers
    assert [n for n, _ in net.named_parameters()] == []


def test_errors_before_init_and_bad_names():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(gn.ones(1))

    with pytest.raises(AttributeError, match=re.escape("super().__init__()")):
        Bad()
    m = nn.Module()
    with pytest.raises(KeyError, match="without '.'"):
        m.register_buffer("a.b", gn.zeros(1))
    with pytest.raises(TypeError, match="nn.Parameter"):
        m.register_parameter("w", gn.zeros(1))
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing
    with pytest.raises(NotImplementedError, match="forward"):
        m(gn.zeros(1))
    with pytest.raises(TypeError, match="floating point"):
        nn.Parameter(np.arange(3))


def test_parameter_shares_data_and_repr():
    t = gn.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert p.data is t.data and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(")


# ---------------------------------------------------------------------- state dict
def test_state_dict_keys_equal_torch():
    torch = pytest.importorskip("torch")
    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                            torch.nn.Linear(8, 3))
    sd = mlp().state_dict()
    assert list(sd) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert sd[k].shape == tuple(v.shape) and isinstance(sd[k], np.ndarray)
    assert sd["1.num_batches_tracked"].dtype == np.int64


def test_load_state_dict_round_trip_in_place(backend):
    a, b = mlp(), mlp()
    a(np.random.default_rng(0).standard_normal((5, 4)))  # moves the running statistics
    held = [p.data for p in b.parameters()]  # what an optimizer would hold
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(va, vb, err_msg=k)
    assert all(p.data is h for p, h in zip(b.parameters(), held))
    sd = a.state_dict()
    sd["0.weight"][...] = 7  # a state_dict is a copy
    assert not (to_numpy(a[0].weight) == 7).any()


def test_load_state_dict_accepts_tensors_and_casts():
    m = nn.Linear(2, 2)
    m.load_state_dict({"weight": gn.ones(2, 2, dtype=np.float64), "bias": np.zeros(2)})
    assert m.weight.dtype == np.float32 and to_numpy(m.weight).sum() == 4


def test_load_state_dict_strict_reports_everything_and_loads_nothing():
    m = mlp()
    before = m.state_dict()
    bad = dict(before)
    del bad["0.bias"], bad["1.running_var"]
    bad["0.weight"] = np.zeros((3, 3))
    bad["extra.weight"] = np.zeros(1)
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(bad)
    msg = str(info.value)
    for part in ("'0.bias'", "'1.running_var'", "'extra.weight'", "size mismatch for '0.weight'", "(3, 3)",
                 "(8, 4)", "nothing was loaded", "strict=False"):
        assert part in msg, part
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    bad["0.weight"] = np.zeros((8, 4))
    result = m.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["0.bias", "1.running_var"] and result.unexpected_keys == ["extra.weight"]
    assert not to_numpy(m[0].weight).any()
    bad["0.weight"] = np.zeros((8, 5))
    with pytest.raises(RuntimeError, match="size mismatch"):  # shapes are checked even when not strict
        m.load_state_dict(bad, strict=False)


# ---------------------------------------------------------------------- modes, moving, gradients
def test_train_eval_propagate():
    m = Net()
    assert m.training and m.layers[0].training
    m.eval()
    assert not m.training and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    with pytest.raises(ValueError, match="bool"):
        m.train("no")


def test_to_dtype_keeps_parameter_objects():
    m = mlp()
    params = list(m.parameters())
    m(np.ones((3, 4))).sum().backward()
    assert m.to(np.float64) is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == np.float64 and m[1].num_batches_tracked.dtype == np.int64
    m.to("float32")
    assert m[0].weight.dtype == np.float32
    m.to("cpu", dtype=np.float64)
    assert m[0].weight.dtype == np.float64 and m[0].weight.device == "cpu"
    with pytest.raises(TypeError, match="floating point"):
        m.to(np.int32)
    with pytest.raises(TypeError, match="neither a device"):
        m.to("tpu")


def test_zero_grad():
    m = nn.Linear(2, 2)
    m(np.ones((1, 2))).sum().backward()
    m.zero_grad(set_to_none=False)
    assert not to_numpy(m.weight.grad).any()
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_numpy_float64_batch_on_float32_model(backend):
    m = mlp()
    y = m(np.random.default_rng(0).standard_normal((6, 4)))  # float64 host array
    assert isinstance(y, gn.Tensor) and y.dtype == np.float32 and y.device == backend.device
    m = m.double()
    assert m(np.ones((2, 4), dtype=np.float32)).dtype == np.float64


def test_integer_input_is_moved_not_cast():
    class Echo(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(gn.ones(1))

        def forward(self, x, idx=None):
            return x, idx

    x, idx = Echo()(np.ones(2), idx=np.array([1, 0]))
    assert x.dtype == np.float32 and idx.dtype == np.array([1, 0]).dtype and isinstance(idx, gn.Tensor)


def test_deepcopy_is_independent():
    m = mlp()
    c = copy.deepcopy(m)
    assert list(c.state_dict()) == list(m.state_dict())
    with gn.no_grad():
        c[0].weight.data[...] = 0
    assert to_numpy(m[0].weight).any()


# ---------------------------------------------------------------------- repr
def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2),
                         nn.Sequential(nn.Linear(8, 3, bias=False), nn.LeakyReLU(0.2)), nn.ELU(), nn.GELU(),
                         nn.Softmax(dim=1), nn.Sigmoid(), nn.Tanh(), nn.SiLU(), nn.Identity())
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                 torch.nn.Dropout(0.2),
                                 torch.nn.Sequential(torch.nn.Linear(8, 3, bias=False), torch.nn.LeakyReLU(0.2)),
                                 torch.nn.ELU(), torch.nn.GELU(), torch.nn.Softmax(dim=1), torch.nn.Sigmoid(),
                                 torch.nn.Tanh(), torch.nn.SiLU(), torch.nn.Identity())
    assert repr(ours) == repr(theirs)


# ---------------------------------------------------------------------- containers
def test_sequential_container_ops():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b)
    assert len(s) == 2 and s[0] is a and s[-1] is b and list(s) == [a, b]
    s.append(c)
    assert s[2] is c and [n for n, _ in s.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    head = s[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is a
    assert s[1:][1] is c and list(s[1:]._modules) == ["1", "2"]
    s[1] = nn.Tanh()
    assert isinstance(s[1], nn.Tanh) and list(s._modules) == ["0", "1", "2"]
    del s[1]
    assert list(s._modules) == ["0", "1"] and s[1] is c
    s.insert(1, nn.Sigmoid())
    assert isinstance(s[1], nn.Sigmoid) and s[2] is c
    with pytest.raises(IndexError, match="out of range"):
        s[5]
    from collections import OrderedDict

    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc is named[0]


def test_module_list():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.ReLU())
    assert isinstance(ml[-1], nn.ReLU) and len(ml[1:]) == 3


# ---------------------------------------------------------------------- activation and loss modules
def test_activation_modules_wrap_functional(backend, rng):
    import gpunet.functional.activation as A

    x = gn.tensor(rng.standard_normal((4, 6)))
    pairs = [(nn.ReLU(), A.relu(x)), (nn.Sigmoid(), A.sigmoid(x)), (nn.Tanh(), A.tanh(x)),
             (nn.LeakyReLU(0.3), A.leaky_relu(x, 0.3)), (nn.ELU(0.5), A.elu(x, 0.5)),
             (nn.Softmax(0), A.softmax(x, 0)), (nn.LogSoftmax(), A.log_softmax(x)), (nn.Step(), A.step(x)),
             (nn.GELU("tanh"), A.gelu(x, approximate="tanh")), (nn.SiLU(), A.silu(x)), (nn.Identity(), x),
             (nn.Softplus(), A.softplus(x)), (nn.Hardtanh(), A.hardtanh(x))]
    for module, want in pairs:
        np.testing.assert_array_equal(to_numpy(module(x)), to_numpy(want), err_msg=repr(module))


def test_maxout(rng):
    m = nn.Maxout(3, 2, pieces=4).double()
    assert m.linear.weight.shape == (8, 3)
    x = rng.standard_normal((5, 3))
    W, b = to_numpy(m.linear.weight), to_numpy(m.linear.bias)
    want = (x @ W.T + b).reshape(5, 2, 4).max(axis=2)
    np.testing.assert_allclose(to_numpy(m(x)), want, rtol=1e-12)
    xt = gn.tensor(x, requires_grad=True)
    assert gn.gradcheck(lambda x: m(x), [xt])


_HAS_LOSS = importlib.util.find_spec("gpunet.functional.loss") is not None


@pytest.mark.skipif(not _HAS_LOSS, reason="gpunet.functional.loss is not there yet")
def test_loss_modules_wrap_functional(rng):
    import gpunet.functional.loss as L

    x, t = gn.tensor(rng.standard_normal((6, 3))), gn.tensor(rng.standard_normal((6, 3)))
    p, y = gn.tensor(rng.random((6, 3)) * 0.8 + 0.1), gn.tensor((rng.random((6, 3)) > 0.5).astype(np.float32))
    cls = rng.integers(0, 3, size=6)
    var = gn.tensor(rng.random((6, 3)) + 0.1)
    cases = [(nn.MSELoss(), (x, t), L.mse_loss(x, t)), (nn.L1Loss(reduction="sum"), (x, t), L.l1_loss(x, t, reduction="sum")),
             (nn.RMSELoss(), (x, t), L.rmse_loss(x, t)), (nn.BCELoss(), (p, y), L.binary_cross_entropy(p, y)),
             (nn.BCEWithLogitsLoss(), (x, y), L.binary_cross_entropy_with_logits(x, y)),
             (nn.CrossEntropyLoss(), (x, cls), L.cross_entropy(x, gn.tensor(cls))),
             (nn.NLLLoss(), (x, cls), L.nll_loss(x, gn.tensor(cls))),
             (nn.GaussianNLLLoss(), (x, t, var), L.gaussian_nll_loss(x, t, var)),
             (nn.MultiMarginLoss(), (x, cls), L.multi_margin_loss(x, gn.tensor(cls)))]
    for module, args, want in cases:
        np.testing.assert_allclose(to_numpy(module(*args)), to_numpy(want), rtol=1e-6, err_msg=repr(module))
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    assert nn.MSELoss(size_average=False).reduction == "sum" and nn.L1Loss(reduce=False).reduction == "none"


@pytest.mark.skipif(not _HAS_LOSS, reason="gpunet.functional.loss is not there yet")
def test_weighted_cross_entropy_buffer(rng):
    w = np.array([1.0, 2.0, 0.5], dtype=np.float32)
    loss = nn.CrossEntropyLoss(weight=w)
    assert list(loss.state_dict()) == ["weight"]
    x, cls = rng.standard_normal((6, 3)), rng.integers(0, 3, size=6)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    want = -(w[cls] * logp[np.arange(6), cls]).sum() / w[cls].sum()
    np.testing.assert_allclose(to_numpy(loss(x, cls)), want, rtol=1e-5)


# ---------------------------------------------------------------------- worked example
def test_two_layer_identity_network_one_sgd_step():
    """2 inputs -> 2 hidden -> 2 outputs, linear activations, E = ½·Σ(y − t)², η = 0.1, one step by hand."""
    W1, b1 = np.array([[0.1, 0.2], [0.3, 0.4]]), np.array([0.1, -0.1])
    W2, b2 = np.array([[0.5, -0.6], [0.7, 0.8]]), np.array([0.0, 0.2])
    x = np.array([[1.0, 2.0]])
    t = x.copy()  # the identity network learns to reproduce its input
    # by hand: forward, output error, backpropagated error, gradients
    h = x @ W1.T + b1
    y = h @ W2.T + b2
    d2 = y - t                      # dE/dy
    d1 = d2 @ W2                    # dE/dh
    grads = {"0.weight": d2.T @ h * 0 + d1.T @ x, "0.bias": d1.sum(0), "1.weight": d2.T @ h, "1.bias": d2.sum(0)}
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)).double()
    model.load_state_dict({"0.weight": W1, "0.bias": b1, "1.weight": W2, "1.bias": b2})
    out = model(x)
    loss = 0.5 * ((out - gn.tensor(t)) ** 2).sum()
    np.testing.assert_allclose(loss.item(), 0.5 * (d2 ** 2).sum(), rtol=1e-12)
    loss.backward()
    params = dict(model.named_parameters())
    for name, g in grads.items():
        np.testing.assert_allclose(to_numpy(params[name].grad), g, rtol=1e-12, err_msg=name)
    with gn.no_grad():
        for p in model.parameters():
            p.data -= 0.1 * p.grad.data
    expected = {"0.weight": W1, "0.bias": b1, "1.weight": W2, "1.bias": b2}
    for name, p in params.items():
        np.testing.assert_allclose(to_numpy(p), expected[name] - 0.1 * grads[name], rtol=1e-12, err_msg=name)
    new_loss = 0.5 * ((to_numpy(model(x)) - t) ** 2).sum()
    assert new_loss < loss.item()
