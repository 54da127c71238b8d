"""Containers and module hooks as torch.nn: ModuleDict, ParameterList, ParameterDict, ModuleList/Sequential
insert/pop/del, get_parameter, forward (pre-)hooks; state_dict keys equal PyTorch's for the same model."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip

import gpunet as gn
from gpunet import nn


def _model(lib):
    m = lib.nn.Module()
    m.blocks = lib.nn.ModuleDict({"enc": lib.nn.Linear(4, 3), "dec": lib.nn.Linear(3, 4)})
    m.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(3)), lib.nn.Parameter(lib.zeros(2))])
    m.extra = lib.nn.ParameterDict({"bias": lib.nn.Parameter(lib.zeros(4))})
    m.layers = lib.nn.ModuleList([lib.nn.Linear(4, 4), lib.nn.ReLU()])
    return m


@pytest.mark.torch
def test_state_dict_keys_and_shapes_equal_torch(backend):
    torch = torch_or_skip()
    mine, theirs = _model(gn), _model(torch)
    assert list(mine.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(to_numpy(mine.get_parameter("blocks.enc.weight")),
                                  theirs.get_parameter("blocks.enc.weight").detach().numpy())


def test_dict_and_list_operations(backend):
    d = nn.ModuleDict()
    d["a"] = nn.Linear(2, 2)
    d.update([("b", nn.ReLU())])
    assert list(d) == ["a", "b"] and "b" in d and len(d) == 2
    assert isinstance(d.pop("a"), nn.Linear) and list(d.keys()) == ["b"]
    pl = nn.ParameterList([gn.zeros(2)])               # a plain tensor becomes a Parameter
    pl.append(np.ones(3, np.float32))
    assert all(isinstance(p, nn.Parameter) for p in pl) and pl[-1].shape == (3,) and len(pl[0:1]) == 1
    pd = nn.ParameterDict({"w": gn.ones(2)})
    pd["v"] = gn.zeros(1)
    assert set(pd.keys()) == {"w", "v"} and pd.get("nope") is None
    with pytest.raises(IndexError):
        pl[5]
    ml = nn.ModuleList([nn.Linear(1, 1), nn.ReLU(), nn.Tanh()])
    ml.insert(1, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["Linear", "Sigmoid", "ReLU", "Tanh"]
    assert isinstance(ml.pop(), nn.Tanh) and len(ml) == 3
    del ml[0]
    assert [type(m).__name__ for m in ml] == ["Sigmoid", "ReLU"] and list(ml._modules) == ["0", "1"]
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    assert isinstance(seq.pop(0), nn.Linear) and len(seq) == 1
    with pytest.raises(AttributeError, match="no parameter 'nope'"):
        seq.get_parameter("nope")


def test_forward_hooks(backend):
    lin = nn.Linear(3, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))     # replaces the input
    h2 = lin.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    h3 = lin.register_forward_hook(lambda m, args, out: out + 1, prepend=False)
    out = lin(gn.ones(4, 3))
    np.testing.assert_allclose(to_numpy(out), np.broadcast_to(to_numpy(lin.bias) + 1, (4, 2)), rtol=1e-6)
    assert seen == [(4, 2)]
    for h in (h1, h2, h3):
        h.remove()
    out = lin(gn.ones(4, 3))
    assert seen == [(4, 2)] and not np.allclose(to_numpy(out), to_numpy(lin.bias) + 1)
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))   # hooks on a fused Sequential's child
    calls = []
    model[2].register_forward_hook(lambda m, a, o: calls.append(1))
    model(gn.ones(2, 3))
    assert calls == [1]


@pytest.mark.torch
def test_forward_hook_order_and_prepend_as_torch():
    torch = torch_or_skip()
    for lib in (gn, torch):
        order = []
        m = lib.nn.Identity()
        m.register_forward_hook(lambda *a: order.append("a"))
        m.register_forward_hook(lambda *a: order.append("b"), prepend=True)
        m.register_forward_pre_hook(lambda *a: order.append("pre"))
        m(lib.ones(1))
        assert order == ["pre", "b", "a"]
