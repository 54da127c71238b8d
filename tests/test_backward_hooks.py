"""nn.Module full backward hooks (register_full_backward_hook / register_full_backward_pre_hook), against
PyTorch: what the hooks see, replacing gradients, hooked modules inside a fused Sequential, removal."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from conftest import torch_or_skip


def _pair(torch):
    gn.manual_seed(0)
    g = gn.nn.Sequential(gn.nn.Linear(3, 4), gn.nn.Tanh(), gn.nn.Linear(4, 2))
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    for p in g.parameters():
        p.data = p.data.astype(np.float64)
    t.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in g.state_dict().items()})
    return g, t


def _record(log):
    def hook(module, grad_input, grad_output):
        log.append(("hook", type(module).__name__, [None if x is None else np.array(x.numpy()) for x in grad_input],
                    [None if x is None else np.array(x.numpy()) for x in grad_output]))
    return hook


def _record_pre(log):
    def hook(module, grad_output):
        log.append(("pre", type(module).__name__, [np.array(x.numpy()) for x in grad_output]))
    return hook


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("input_grad", [False, True])
def test_full_backward_hooks_like_torch(input_grad):
    torch = torch_or_skip()
    g, t = _pair(torch)
    logs = [], []
    for net, log in zip((g, t), logs):
        for i in (0, 2):
            net[i].register_full_backward_pre_hook(_record_pre(log))
            net[i].register_full_backward_hook(_record(log))
    xa = np.random.default_rng(0).standard_normal((5, 3))
    x = gn.tensor(xa, requires_grad=input_grad)
    xt = torch.tensor(xa, requires_grad=input_grad)
    (g(x) ** 2).sum().backward()
    (t(xt) ** 2).sum().backward()
    assert [e[:2] for e in logs[0]] == [e[:2] for e in logs[1]]
    for a, b in zip(*logs):
        for ga, gb in zip(a[2:], b[2:]):
            assert len(ga) == len(gb)
            for u, v in zip(ga, gb):
                if v is None:
                    assert u is None
                else:
                    np.testing.assert_allclose(u, v, rtol=1e-12)
    for p, q in zip(g.parameters(), t.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_hooks_replace_gradients():
    lin = gn.nn.Linear(2, 2)
    x = gn.tensor([[1.0, 2.0]], requires_grad=True)
    lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 0,))
    lin(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0]])
    assert not np.any(lin.weight.grad.numpy())

    lin2 = gn.nn.Linear(2, 2)
    x.grad = None
    h = lin2.register_full_backward_hook(lambda m, gi, go: (gi[0] * 10,))
    lin2(x).sum().backward()
    expected = lin2.weight.numpy().sum(0, keepdims=True) * 10
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)
    h.remove()
    x.grad = None
    lin2(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected / 10, rtol=1e-6)


def test_hooked_module_in_sequential_is_not_fused():
    net = gn.nn.Sequential(gn.nn.Linear(3, 4), gn.nn.ReLU(), gn.nn.Linear(4, 1))
    seen = []
    net[1].register_full_backward_hook(lambda m, gi, go: seen.append((gi[0].shape, go[0].shape)))
    net(gn.randn(2, 3)).sum().backward()
    assert seen == [((2, 4), (2, 4))]


def test_multiple_inputs_and_outputs():
    class Two(gn.nn.Module):
        def forward(self, a, b, k):
            return a * b * k, a + b

    m = Two()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go)))
    a = gn.tensor([1.0, 2.0], requires_grad=True)
    b = gn.tensor([3.0, 4.0])
    p, s = m(a, b, 2.0)
    (p.sum() + 3 * s.sum()).backward()
    gi, go = seen[0]
    assert len(gi) == 3 and gi[1] is None and gi[2] is None
    np.testing.assert_allclose(gi[0].numpy(), 2 * b.numpy() + 3)
    np.testing.assert_allclose(go[0].numpy(), [1.0, 1.0])
    np.testing.assert_allclose(go[1].numpy(), [3.0, 3.0])
    np.testing.assert_allclose(a.grad.numpy(), 2 * b.numpy() + 3)


def test_no_hooks_under_no_grad_and_bad_return():
    lin = gn.nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with gn.no_grad():
        assert not lin(gn.randn(1, 2)).requires_grad
    x = gn.randn(1, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 2 values but grad_input has 1"):
        lin(x).sum().backward()
