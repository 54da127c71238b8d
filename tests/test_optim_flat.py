"""Flat optimizer groups (the CPU's few-calls-per-step path) give exactly what the per-parameter path gives,
including a step where one parameter has no gradient, and keep state/state_dict per parameter."""
import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F

from conftest import to_numpy

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


# Which of the four parameters have a gradient at each step: some get their first gradient late (after the
# others already have state), whole steps where some parameters sit out (so step counts part, and realign).
_LATE = [(0, 1), (0, 1, 2, 3), (2, 3), (0, 1, 2, 3), (0, 1, 2, 3), (0, 2, 3), (0, 1, 2, 3), (1, 2), (0, 1, 2, 3),
         (0, 1, 2, 3)]
SCHEDULES = {"tail-late": _LATE, "head-late": [tuple(3 - i for i in s) for s in _LATE]}
TORCH_CASES = [
    ("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)), ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.05)), ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05)), ("AdamW", dict(lr=0.05, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)), ("RMSprop", dict(lr=0.01, momentum=0.9)), ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1)), ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, lr_decay=0.01)),
    ("Adadelta", dict()), ("Adadelta", dict(lr=0.5, weight_decay=0.1)),
]
TORCH_IDS = [f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, kw in TORCH_CASES]


def _late_grad_run(lib, cls, kw, schedule, inits, targets, **extra):
    """Step ``cls`` of ``lib`` (gpunet or torch) over four parameters in one group, only the scheduled ones
    having a gradient each step; returns the parameters after every step, and whether a flat group was in use."""
    ps = [lib.tensor(a.copy(), requires_grad=True) for a in inits]
    ts = [lib.tensor(t) for t in targets]
    opt = getattr(lib.optim, cls)(ps, **kw, **extra)
    traj, flat = [], []
    for active in schedule:
        opt.zero_grad()
        loss = None
        for i in active:
            p, t = ps[i], ts[i]
            term = ((p - t) * (p - t)).sum() + 0.05 * (p * p * p * p).sum()
            loss = term if loss is None else loss + term
        loss.backward()
        assert all((p.grad is None) == (i not in active) for i, p in enumerate(ps))
        opt.step()
        traj.append([(p.numpy() if lib is gn else p.detach().numpy()).copy() for p in ps])
        flat.append(bool(getattr(opt, "_flat", None)))
    return traj, flat


@pytest.mark.torch
@pytest.mark.parametrize("schedule", list(SCHEDULES), ids=list(SCHEDULES))
@pytest.mark.parametrize("cls,kw", TORCH_CASES, ids=TORCH_IDS)
def test_late_first_gradient_matches_torch(backend, cls, kw, schedule):
    """A parameter whose first gradient comes after the others have state (SGD's momentum buffer: b = g at
    that step), and steps where some gradients are None, follow torch.optim on the flat path as elsewhere."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    shapes = [(2, 3), (3,), (3, 2), (2,)]
    inits = [rng.standard_normal(s) for s in shapes]
    targets = [rng.standard_normal(s) for s in shapes]
    ref, _ = _late_grad_run(torch, cls, kw, SCHEDULES[schedule], inits, targets, foreach=False)
    got, flat = _late_grad_run(gn, cls, kw, SCHEDULES[schedule], inits, targets)
    for step, (r, g) in enumerate(zip(ref, got)):
        for i, (a, b) in enumerate(zip(r, g)):
            np.testing.assert_allclose(to_numpy(b), a, rtol=1e-10, atol=1e-12,
                                       err_msg=f"step {step}, parameter {i}")
    if backend.flat_optimizer_max >= sum(int(np.prod(s)) for s in shapes):
        assert any(flat), "the flat path was never taken; the test proves nothing about it"
    assert np.abs(to_numpy(got[-1][0]) - inits[0]).max() > 1e-3, "the parameters hardly moved"
