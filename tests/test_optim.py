"""Optimizers: trajectories against torch.optim (float64), state dicts, in-place updates. The errors are in
test_optim_errors."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.optim as optim
from gpunet.optim import _functional as OF

from conftest import to_numpy, torch_or_skip

W0 = np.array([[-1.2, 1.0, 0.3], [0.8, -0.5, 1.4]])
B0 = np.array([0.2, -0.7, 0.5])
C = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])

# (name, gpunet class, torch class name, defaults, options of the second group)
CASES = [
    ("sgd", "SGD", dict(lr=1e-3), dict(lr=5e-3)),
    ("sgd-momentum", "SGD", dict(lr=1e-3, momentum=0.9), dict(momentum=0.5)),
    ("sgd-dampening", "SGD", dict(lr=1e-3, momentum=0.9, dampening=0.3), dict(dampening=0.0)),
    ("sgd-nesterov", "SGD", dict(lr=1e-3, momentum=0.9, nesterov=True), dict(lr=2e-3)),
    ("sgd-weight-decay", "SGD", dict(lr=1e-3, momentum=0.5, weight_decay=0.1), dict(weight_decay=0.0)),
    ("sgd-maximize", "SGD", dict(lr=1e-3, maximize=True), dict(lr=2e-3)),
    ("adam", "Adam", dict(lr=1e-2), dict(lr=3e-2, betas=(0.8, 0.99))),
    ("adam-weight-decay", "Adam", dict(lr=1e-2, weight_decay=0.1), dict(weight_decay=0.0)),
    ("adam-amsgrad", "Adam", dict(lr=1e-2, amsgrad=True), dict(eps=1e-6)),
    ("adamw", "AdamW", dict(lr=1e-2), dict(weight_decay=0.1)),
    ("adamw-amsgrad", "AdamW", dict(lr=1e-2, amsgrad=True), dict(lr=2e-2)),
    ("rmsprop", "RMSprop", dict(lr=1e-3), dict(alpha=0.9)),
    ("rmsprop-momentum", "RMSprop", dict(lr=1e-3, momentum=0.9), dict(weight_decay=0.1)),
    ("rmsprop-centered", "RMSprop", dict(lr=1e-3, centered=True), dict(momentum=0.5)),
    ("adagrad", "Adagrad", dict(lr=0.05), dict(lr=0.02)),
    ("adagrad-initial-accumulator", "Adagrad", dict(lr=0.05, initial_accumulator_value=0.1), dict(eps=1e-6)),
    ("adagrad-lr-decay", "Adagrad", dict(lr=0.05, lr_decay=0.05), dict(weight_decay=0.1)),
    ("adadelta", "Adadelta", dict(), dict(rho=0.8, weight_decay=0.1)),
    ("adadelta-lr", "Adadelta", dict(lr=0.5, eps=1e-5), dict(lr=2.0)),
    ("adamax", "Adamax", dict(lr=1e-2), dict(lr=3e-2, betas=(0.8, 0.99))),
    ("adamax-weight-decay", "Adamax", dict(lr=1e-2, weight_decay=0.1, maximize=False), dict(eps=1e-6)),
    ("nadam", "NAdam", dict(lr=1e-2), dict(momentum_decay=1e-2)),
    ("nadam-weight-decay", "NAdam", dict(lr=1e-2, weight_decay=0.1), dict(lr=2e-2)),
    ("nadam-decoupled", "NAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True), dict(lr=2e-2)),
    ("radam", "RAdam", dict(lr=1e-2), dict(betas=(0.8, 0.9))),  # group 2: rho_t > 5 from step 6 on
    ("radam-weight-decay", "RAdam", dict(lr=1e-2, weight_decay=0.1), dict(lr=3e-2)),
    ("radam-decoupled", "RAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True), dict(lr=3e-2)),
]
IDS = [c[0] for c in CASES]


def loss_fn(w, b, c):
    """Rosenbrock along w's rows plus a quadratic pulling w to c and coupling b to w (same code for gn/torch)."""
    x, y = w[:, :-1], w[:, 1:]
    rosen = (100.0 * (y - x * x) ** 2 + (1.0 - x) ** 2).sum()
    quad = ((w - c) ** 2).sum() * 0.5
    couple = ((b - 0.5 * (w * w).sum(0)) ** 2).sum()
    return rosen * 0.01 + quad + couple


def _groups(params, second):
    return [{"params": [params[0]]}, {"params": [params[1]], **second}]


def make_gn(cls_name, defaults, second, w0=W0, b0=B0):
    w = gn.tensor(w0.copy(), requires_grad=True)
    b = gn.tensor(b0.copy(), requires_grad=True)
    opt = getattr(optim, cls_name)(_groups([w, b], second), **defaults)
    return (w, b), opt


def gn_steps(params, opt, n):
    c = gn.tensor(C)
    for _ in range(n):
        opt.zero_grad()
        loss_fn(*params, c).backward()
        opt.step()


def _torch_run(torch, cls_name, defaults, second, n):
    w = torch.tensor(W0.copy(), requires_grad=True)
    b = torch.tensor(B0.copy(), requires_grad=True)
    opt = getattr(torch.optim, cls_name)(_groups([w, b], second), foreach=False, **defaults)
    c = torch.tensor(C)
    traj = []
    for _ in range(n):
        opt.zero_grad()
        loss_fn(w, b, c).backward()
        opt.step()
        traj.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
    return traj


@pytest.mark.torch
@pytest.mark.parametrize("name,cls_name,defaults,second", CASES, ids=IDS)
def test_trajectory_matches_torch(backend, name, cls_name, defaults, second):
    torch = torch_or_skip()
    ref = _torch_run(torch, cls_name, defaults, second, 20)
    params, opt = make_gn(cls_name, defaults, second)
    c = gn.tensor(C)
    for tw, tb in ref:
        opt.zero_grad()
        loss_fn(*params, c).backward()
        opt.step()
        np.testing.assert_allclose(to_numpy(params[0]), tw, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(to_numpy(params[1]), tb, rtol=1e-10, atol=1e-12)
    moved = np.abs(to_numpy(params[0]) - W0).max()
    assert moved > 1e-3, f"{name}: the parameters hardly moved in 20 steps ({moved}); the test proves nothing"


def _plain(obj, where="state_dict"):
    """Assert a state dict holds only NumPy arrays and plain Python values."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, (str, int)), f"{where}: key {k!r}"
            _plain(v, f"{where}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _plain(v, f"{where}[{i}]")
    else:
        ok = isinstance(obj, (np.ndarray, int, float, bool, str)) or obj is None
        assert ok and not isinstance(obj, np.generic), f"{where} is a {type(obj).__name__}"


@pytest.mark.parametrize("name,cls_name,defaults,second", CASES, ids=IDS)
def test_state_dict_round_trip(backend, name, cls_name, defaults, second):
    """Save after 5 steps, restore into a fresh optimizer (built with other options), continue 5 steps:
    bit-identical to 10 uninterrupted steps."""
    full, opt_full = make_gn(cls_name, defaults, second)
    gn_steps(full, opt_full, 10)

    first, opt = make_gn(cls_name, defaults, second)
    gn_steps(first, opt, 5)
    sd = opt.state_dict()
    at5 = [to_numpy(p).copy() for p in first]
    _plain(sd)
    assert sorted(sd["state"]) == [0, 1]
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    saved = {k: {n: v.copy() for n, v in st.items() if isinstance(v, np.ndarray)} for k, st in sd["state"].items()}
    gn_steps(first, opt, 1)  # the saved dict must not follow the optimizer
    for k, st in saved.items():
        for n, v in st.items():
            np.testing.assert_array_equal(sd["state"][k][n], v)

    resumed, opt2 = make_gn(cls_name, {**defaults, "lr": 0.123}, {}, *at5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == opt.param_groups[1]["lr"]
    gn_steps(resumed, opt2, 5)
    np.testing.assert_array_equal(to_numpy(resumed[0]), to_numpy(full[0]))
    np.testing.assert_array_equal(to_numpy(resumed[1]), to_numpy(full[1]))


def test_state_dict_survives_save_load(tmp_path):
    io = pytest.importorskip("gpunet.io")
    params, opt = make_gn("Adam", dict(lr=1e-2, amsgrad=True), dict(lr=2e-2))
    gn_steps(params, opt, 3)
    io.save(opt.state_dict(), tmp_path / "opt.gn")
    sd = io.load(tmp_path / "opt.gn")
    params2, opt2 = make_gn("Adam", dict(lr=1e-2, amsgrad=True), dict(lr=2e-2), to_numpy(params[0]),
                            to_numpy(params[1]))
    opt2.load_state_dict(sd)
    gn_steps(params, opt, 3)
    gn_steps(params2, opt2, 3)
    np.testing.assert_array_equal(to_numpy(params2[0]), to_numpy(params[0]))


@pytest.mark.torch
def test_load_torch_state_dict_continues_like_torch():
    torch = torch_or_skip()
    defaults, second = dict(lr=1e-2, amsgrad=True), dict(lr=2e-2)
    w = torch.tensor(W0.copy(), requires_grad=True)
    b = torch.tensor(B0.copy(), requires_grad=True)
    topt = torch.optim.Adam(_groups([w, b], second), foreach=False, **defaults)
    c = torch.tensor(C)
    for _ in range(4):
        topt.zero_grad()
        loss_fn(w, b, c).backward()
        topt.step()
    params, opt = make_gn("Adam", defaults, second, w.detach().numpy(), b.detach().numpy())
    opt.load_state_dict(topt.state_dict())
    assert isinstance(opt.state[params[0]]["step"], int)
    for _ in range(4):
        topt.zero_grad()
        loss_fn(w, b, c).backward()
        topt.step()
    gn_steps(params, opt, 4)
    np.testing.assert_allclose(to_numpy(params[0]), w.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,cls_name,defaults,second", CASES, ids=IDS)
def test_update_is_in_place(backend, name, cls_name, defaults, second):
    params, opt = make_gn(cls_name, defaults, second)
    arrays = [p.data for p in params]
    gn_steps(params, opt, 1)
    ids = {i: {k: id(v) for k, v in opt.state[p].items() if hasattr(v, "shape")} for i, p in enumerate(params)}
    gn_steps(params, opt, 2)
    for a, p in zip(arrays, params):
        assert p.data is a
    for i, p in enumerate(params):
        assert {k: id(v) for k, v in opt.state[p].items() if hasattr(v, "shape")} == ids[i]
        for k, v in opt.state[p].items():
            if hasattr(v, "shape"):
                assert v.shape == p.shape and v.dtype == p.dtype and type(v) is type(p.data), k


@pytest.mark.parametrize("cls_name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_float32_stays_float32(backend, cls_name):
    kw = dict(momentum=0.9) if cls_name in ("SGD", "RMSprop") else {}
    params, opt = make_gn(cls_name, dict(kw, lr=1e-2), {}, W0.astype(np.float32), B0.astype(np.float32))
    gn_steps(params, opt, 3)
    for p in params:
        assert p.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values() if hasattr(v, "dtype"))
    assert np.isfinite(to_numpy(params[0])).all()


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(backend, set_to_none):
    params, opt = make_gn("SGD", dict(lr=0.1), {})
    loss_fn(*params, gn.tensor(C)).backward()
    grads = [p.grad for p in params]
    opt.zero_grad(set_to_none=set_to_none)
    for p, g in zip(params, grads):
        if set_to_none:
            assert p.grad is None
        else:
            assert p.grad is g and not to_numpy(p.grad).any()


def test_zero_grad_defaults_to_none():
    params, opt = make_gn("Adam", {}, {})
    loss_fn(*params, gn.tensor(C)).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_parameters_without_grad_are_skipped(backend):
    params, opt = make_gn("Adam", dict(lr=0.1), {})
    params[0].grad = gn.tensor(np.ones_like(W0))
    opt.step()
    assert params[1] not in opt.state or not opt.state[params[1]]
    np.testing.assert_array_equal(to_numpy(params[1]), B0)
    assert not np.allclose(to_numpy(params[0]), W0)
    assert opt.state_dict()["state"].keys() == {0}


def test_step_with_closure_returns_loss():
    params, opt = make_gn("SGD", dict(lr=0.01), {})
    c = gn.tensor(C)

    def closure():
        opt.zero_grad()
        loss = loss_fn(*params, c)
        loss.backward()
        return loss

    with gn.no_grad():
        first = opt.step(closure)  # the closure still builds its graph: step enables grad for it
    assert float(opt.step(closure)) < float(first)


def test_add_param_group_fills_defaults():
    params, opt = make_gn("SGD", dict(lr=0.1, momentum=0.9), {})
    extra = gn.tensor(np.zeros(2), requires_grad=True)
    opt.param_groups.pop()
    opt.add_param_group({"params": extra, "lr": 0.5})
    g = opt.param_groups[-1]
    assert g["params"] == [extra] or g["params"][0] is extra
    assert g["lr"] == 0.5 and g["momentum"] == 0.9 and g["nesterov"] is False and g["dampening"] == 0
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [params[0]]})


def test_named_parameters_are_accepted():
    w = gn.tensor(W0, requires_grad=True)
    opt = optim.Adam([("w", w)])
    assert opt.param_groups[0]["param_names"] == ["w"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w"]


def test_adagrad_initial_accumulator_per_group():
    """A group's own initial_accumulator_value seeds its sums (torch uses the constructor's value for all)."""
    params, opt = make_gn("Adagrad", dict(initial_accumulator_value=0.5), dict(initial_accumulator_value=2.0))
    np.testing.assert_array_equal(to_numpy(opt.state[params[0]]["sum"]), np.full(W0.shape, 0.5))
    np.testing.assert_array_equal(to_numpy(opt.state[params[1]]["sum"]), np.full(B0.shape, 2.0))
    assert opt.state[params[0]]["step"] == 0


def test_param_group_changes_take_effect():
    params, opt = make_gn("SGD", dict(lr=0.1), {})
    params[0].grad = gn.tensor(np.ones_like(W0))
    opt.param_groups[0]["lr"] = 0.0
    opt.step()
    np.testing.assert_array_equal(to_numpy(params[0]), W0)


def test_backend_kernel_hook_is_used(monkeypatch):
    """Optimizers ask the parameter's backend for a fused kernel and call it with the reference's signature."""
    be = gn.backend.get("numpy")
    calls = []

    def hook(name):
        ref = {"sgd": OF.sgd_update, "adam": OF.adam_update}.get(name)
        if ref is None:
            return None

        def kernel(*args):
            calls.append(name)
            return ref(*args)
        return kernel

    monkeypatch.setattr(be, "optimizer_kernel", hook)
    for cls_name, kw in (("SGD", dict(lr=0.1, momentum=0.9)), ("AdamW", {}), ("RMSprop", {})):
        params, opt = make_gn(cls_name, kw, {})
        gn_steps(params, opt, 2)
    assert calls == ["sgd"] * 4 + ["adam"] * 4


def test_functional_updates_work_on_flat_buffers():
    """The same update on two arrays and on one flat buffer holding both gives identical numbers."""
    rng = np.random.default_rng(0)
    shapes = [(2, 3), (4,)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s) for s in shapes]
    flat_p = np.concatenate([p.ravel() for p in params])
    flat_g = np.concatenate([g.ravel() for g in grads])
    states = [[np.zeros(s) for _ in range(3)] for s in shapes]
    flat_s = [np.zeros(flat_p.size) for _ in range(3)]
    for t in range(1, 4):
        for p, g, (m, v, vmax) in zip(params, grads, states):
            OF.adam_update(np, p, g, m, v, vmax, t, 1e-2, 0.9, 0.999, 1e-8, 0.1, True, True)
        OF.adam_update(np, flat_p, flat_g, *flat_s, t, 1e-2, 0.9, 0.999, 1e-8, 0.1, True, True)
    np.testing.assert_array_equal(flat_p, np.concatenate([p.ravel() for p in params]))


def test_sgd_gradient_descent_converges():
    """Full-batch gradient descent (SGD on the whole set) minimises a quadratic."""
    w = gn.tensor(np.array([3.0, -2.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        ((w - gn.tensor(np.array([1.0, 0.5]))) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(to_numpy(w), [1.0, 0.5], atol=1e-8)


def test_repr_lists_groups():
    _, opt = make_gn("SGD", dict(lr=0.1), dict(lr=0.2))
    text = repr(opt)
    assert text.startswith("SGD (") and "Parameter Group 1" in text and "lr: 0.2" in text
