"""Flat optimizer groups (the CPU's few-calls-per-step path) give exactly what the per-parameter path gives,
including a step where one parameter has no gradient, and keep state/state_dict per parameter."""
import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F

CASES = [(gn.optim.Adam, dict(lr=0.1)), (gn.optim.AdamW, dict(lr=0.1, amsgrad=True)),
         (gn.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
         (gn.optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5)), (gn.optim.Adagrad, dict(lr=0.1)),
         (gn.optim.Adadelta, dict())]


def _train(flat_max, cls, kw, monkeypatch, steps=6, resume_at=None):
    be = gn.use("numpy")
    monkeypatch.setattr(type(be), "flat_optimizer_max", flat_max)
    gn.manual_seed(0)
    m = gn.nn.Sequential(gn.nn.Linear(3, 5), gn.nn.ReLU(), gn.nn.Linear(5, 2)).double()
    opt = cls(m.parameters(), **kw)
    rng = np.random.default_rng(0)
    x, y = gn.tensor(rng.standard_normal((4, 3))), gn.tensor(np.array([0, 1, 1, 0]))
    for i in range(steps):
        if i == resume_at:
            sd = opt.state_dict()
            opt = cls(m.parameters(), **kw)
            opt.load_state_dict(sd)
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        if i == 3:
            m[2].bias.grad = None  # one parameter sits this step out: its step count falls behind
        opt.step()
    return [p.numpy().copy() for p in m.parameters()], opt


@pytest.mark.parametrize("cls,kw", CASES, ids=[c.__name__ for c, _ in CASES])
def test_flat_equals_per_parameter(cls, kw, monkeypatch):
    per, opt_a = _train(0, cls, kw, monkeypatch)
    flat, opt_b = _train(1 << 20, cls, kw, monkeypatch)
    for a, b in zip(per, flat):
        np.testing.assert_array_equal(a, b)
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    for k in sa["state"]:
        for name, v in sa["state"][k].items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(sb["state"][k][name], v)
                assert sb["state"][k][name].shape == v.shape
            else:
                assert sb["state"][k][name] == v


@pytest.mark.parametrize("cls,kw", CASES[:3], ids=[c.__name__ for c, _ in CASES[:3]])
def test_flat_resume_from_state_dict(cls, kw, monkeypatch):
    straight, _ = _train(1 << 20, cls, kw, monkeypatch, steps=8)
    resumed, _ = _train(1 << 20, cls, kw, monkeypatch, steps=8, resume_at=5)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)


def test_flat_group_survives_rebinding(monkeypatch):
    """A parameter whose array is replaced (as Module.to does) gets a fresh flat group, not a stale view."""
    be = gn.use("numpy")
    monkeypatch.setattr(type(be), "flat_optimizer_max", 1 << 20)
    a = gn.tensor([1.0, 2.0], requires_grad=True)
    b = gn.tensor([3.0], requires_grad=True)
    opt = gn.optim.SGD([a, b], lr=0.5)
    for _ in range(2):
        opt.zero_grad()
        ((a * a).sum() + (b * b).sum()).backward()
        opt.step()
    a.data = a.data.copy()
    opt.zero_grad()
    ((a * a).sum() + (b * b).sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(b.numpy(), [0.0])
