"""Grad modes (set_grad_enabled, inference_mode, bare @no_grad), Tensor.backward's torch signature
(gradient=, retain_graph, create_graph, inputs=) and Tensor.register_hook, against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from gpunet.autograd import engine, hooks as _hooks

from conftest import to_numpy, torch_or_skip


# ---------------------------------------------------------------- grad modes
def test_set_grad_enabled_function_context_and_decorator():
    assert gn.is_grad_enabled()
    gn.set_grad_enabled(False)
    try:
        assert not gn.is_grad_enabled()
    finally:
        gn.set_grad_enabled(True)
    assert gn.is_grad_enabled()
    with gn.set_grad_enabled(False):
        assert not gn.is_grad_enabled()
        with gn.set_grad_enabled(True):
            assert gn.is_grad_enabled()
        assert not gn.is_grad_enabled()
    assert gn.is_grad_enabled()

    @gn.set_grad_enabled(False)
    def f():
        return gn.is_grad_enabled()
    assert gn.is_grad_enabled()  # as a decorator it changes nothing until the function runs
    assert f() is False and gn.is_grad_enabled()
    with pytest.raises(TypeError, match="must be bool"):
        gn.set_grad_enabled(1)


def test_set_grad_enabled_records_or_not(backend):
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    with gn.set_grad_enabled(False):
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad
    with gn.no_grad():
        with gn.set_grad_enabled(True):
            z = x * 2
    assert z.requires_grad


def test_bare_decorators_and_generators():
    @gn.no_grad
    def a():
        return gn.is_grad_enabled()

    @gn.no_grad()
    def b():
        return gn.is_grad_enabled()

    @gn.enable_grad
    def c():
        return gn.is_grad_enabled()

    @gn.inference_mode
    def d():
        return gn.is_grad_enabled(), gn.is_inference_mode_enabled()

    @gn.inference_mode()
    def e():
        return gn.is_grad_enabled()

    assert a() is False and b() is False and e() is False
    assert d() == (False, True) and not gn.is_inference_mode_enabled()
    with gn.no_grad():
        assert c() is True
        assert not gn.is_grad_enabled()
    assert a.__name__ == "a" and d.__name__ == "d"

    @gn.no_grad
    def gen():
        for _ in range(2):
            yield gn.is_grad_enabled()
    it = gen()
    assert next(it) is False
    assert gn.is_grad_enabled()  # the mode is set around each step only, as torch
    assert next(it) is False
    with pytest.raises(TypeError):
        gn.no_grad(3)


def test_inference_mode_matches_torch():
    torch = torch_or_skip()
    for outer_t, outer_g in ((torch.no_grad, gn.no_grad), (torch.enable_grad, gn.enable_grad),
                             (lambda: torch.inference_mode(), lambda: gn.inference_mode())):
        for mode in (True, False):
            with outer_t():
                with torch.inference_mode(mode):
                    want = torch.is_grad_enabled(), torch.is_inference_mode_enabled()
                back_t = torch.is_grad_enabled()
            with outer_g():
                with gn.inference_mode(mode):
                    got = gn.is_grad_enabled(), gn.is_inference_mode_enabled()
                back_g = gn.is_grad_enabled()
            assert got == want and back_g == back_t
    assert gn.is_grad_enabled() and not gn.is_inference_mode_enabled()


def test_exports():
    import gpunet.autograd as ag

    for name in ("set_grad_enabled", "inference_mode", "no_grad", "enable_grad", "is_inference_mode_enabled"):
        assert getattr(gn, name) is getattr(ag, name)


# ---------------------------------------------------------------- backward's signature
def test_backward_gradient_keyword_and_positional(backend):
    torch = torch_or_skip()
    v = np.array([1.0, -2.0, 3.0])
    up = np.array([0.5, 2.0, -1.0])
    res = []
    for how in ("kw", "pos", "old"):
        x = gn.tensor(v, requires_grad=True)
        y = x * x
        if how == "kw":
            y.backward(gradient=gn.tensor(up))
        elif how == "pos":
            y.backward(gn.tensor(up))
        else:
            y.backward(grad=gn.tensor(up))
        res.append(to_numpy(x.grad))
    xt = torch.tensor(v, requires_grad=True)
    (xt * xt).backward(gradient=torch.tensor(up))
    for r in res:
        np.testing.assert_allclose(r, xt.grad.numpy())
    x = gn.tensor(v, requires_grad=True)
    with pytest.raises(TypeError):
        (x * x).backward(gn.tensor(up), grad=gn.tensor(up))


def test_backward_retain_graph_none_and_create_graph(backend):
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=None)  # None means create_graph's value (False), as torch
    np.testing.assert_allclose(to_numpy(x.grad), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()
    x.grad = None
    (x * x).sum().backward(create_graph=True)  # supported now: .grad has a graph (tests/test_double_backward.py)
    assert x.grad.requires_grad


def test_backward_inputs_matches_torch(backend):
    torch = torch_or_skip()
    av, bv = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    a, b = gn.tensor(av, requires_grad=True), gn.tensor(bv, requires_grad=True)
    at, bt = torch.tensor(av, requires_grad=True), torch.tensor(bv, requires_grad=True)
    m, mt = a * b, at * bt
    m.retain_grad()
    mt.retain_grad()
    (m * m).sum().backward(inputs=[a])
    (mt * mt).sum().backward(inputs=[at])
    np.testing.assert_allclose(to_numpy(a.grad), at.grad.numpy())
    assert b.grad is None and bt.grad is None
    np.testing.assert_allclose(to_numpy(m.grad), mt.grad.numpy())
    # a non-leaf input gets .grad; the leaves do not move
    m, mt = a * b, at * bt
    (m * m).sum().backward(inputs=[m])
    (mt * mt).sum().backward(inputs=[mt])
    np.testing.assert_allclose(to_numpy(m.grad), mt.grad.numpy())
    np.testing.assert_allclose(to_numpy(a.grad), at.grad.numpy())
    assert b.grad is None
    # a single tensor; a hook on a branch that leads to no input does not run (torch prunes it)
    ran = []
    q = b * 3
    q.register_hook(lambda g: ran.append(1))
    (a * 2 + q).sum().backward(inputs=a)
    qt = bt * 3
    qt.register_hook(lambda g: ran.append(2))
    (at * 2 + qt).sum().backward(inputs=at)
    assert ran == [] and b.grad is None
    np.testing.assert_allclose(to_numpy(a.grad), at.grad.numpy())
    with pytest.raises(RuntimeError, match="cannot be empty"):
        (a * b).sum().backward(inputs=[])
    with pytest.raises(RuntimeError, match="does not require grad"):
        (a * b).sum().backward(inputs=[gn.tensor([1.0, 1.0])])


# ---------------------------------------------------------------- hooks
def test_leaf_hook_once_on_summed_grad(backend):
    torch = torch_or_skip()
    v = np.array([1.0, 2.0, 3.0])
    out = {}
    for lib, mk in (("gn", lambda: gn.tensor(v, requires_grad=True)),
                    ("torch", lambda: torch.tensor(v, requires_grad=True))):
        x = mk()
        calls = []

        def hook(g):
            assert not g.requires_grad and g.grad_fn is None
            calls.append(to_numpy(g) if lib == "gn" else g.detach().numpy().copy())
            return g.clamp(max=6.0) * 2  # not linear: the hook must see the sum, once
        x.register_hook(hook)
        ((x * x).sum() + (x * 3).sum()).backward()
        out[lib] = (calls, to_numpy(x.grad) if lib == "gn" else x.grad.numpy())
    assert len(out["gn"][0]) == len(out["torch"][0]) == 1
    np.testing.assert_allclose(out["gn"][0][0], out["torch"][0][0])
    np.testing.assert_allclose(out["gn"][1], out["torch"][1])


def test_nonleaf_hook_retain_grad_and_chain(backend):
    torch = torch_or_skip()
    v = np.array([1.0, -2.0, 3.0])
    res = {}
    for lib in ("gn", "torch"):
        x = gn.tensor(v, requires_grad=True) if lib == "gn" else torch.tensor(v, requires_grad=True)
        z = x * 2
        seen = []
        z.retain_grad()
        z.register_hook(lambda g: seen.append(float(g.sum())) or g * 10)
        z.register_hook(lambda g: g + 1)  # hooks chain in registration order
        w = z * z
        w.register_hook(lambda g: seen.append(float(g.sum())))
        w.sum().backward()
        res[lib] = (seen, to_numpy(z.grad) if lib == "gn" else z.grad.numpy(),
                    to_numpy(x.grad) if lib == "gn" else x.grad.numpy())
    assert res["gn"][0] == pytest.approx(res["torch"][0])
    np.testing.assert_allclose(res["gn"][1], res["torch"][1])
    np.testing.assert_allclose(res["gn"][2], res["torch"][2])


def test_hook_on_root_and_on_leaf_root(backend):
    w = gn.tensor(2.0, requires_grad=True)
    w.register_hook(lambda g: g * 7)
    w.backward()
    assert float(w.grad) == 7.0
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.register_hook(lambda g: g * 3)
    y.backward()
    np.testing.assert_allclose(to_numpy(x.grad), [6.0, 12.0])


def test_hook_remove_and_handle(backend):
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    h = x.register_hook(lambda g: g * 0)
    assert isinstance(h, gn.autograd.RemovableHandle) and isinstance(h.id, int)
    h.remove()
    h.remove()  # twice is harmless
    (x * 1).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [1.0, 1.0])
    x.grad = None
    with x.register_hook(lambda g: g * 5):
        (x * 1).sum().backward()
    (x * 1).sum().backward()  # removed on leaving the with block
    np.testing.assert_allclose(to_numpy(x.grad), [6.0, 6.0])
    assert id(x) not in _hooks.HOOKS


def test_hook_errors_match_torch(backend):
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        gn.tensor([1.0]).register_hook(lambda g: g)
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    for bad, err, msg in ((lambda g: g.sum(), RuntimeError, "changed the size"),
                          (lambda g: g.astype(np.float32), RuntimeError, "changed the type"),
                          (lambda g: 3, TypeError, "expected Tensor")):
        z = x.double() * 2
        h = z.register_hook(bad)
        with pytest.raises(err, match=msg):
            z.sum().backward()
        h.remove()


def test_hook_stays_with_grad_fn_across_inplace_write(backend):
    torch = torch_or_skip()
    v = np.array([1.0, 2.0, 3.0])
    res = {}
    for lib in ("gn", "torch"):
        x = gn.tensor(v, requires_grad=True) if lib == "gn" else torch.tensor(v, requires_grad=True)
        a = x * 1
        seen = []
        a.register_hook(lambda g: seen.append(("old", to_numpy(g) if lib == "gn" else g.numpy().copy())))
        a.mul_(5)
        a.register_hook(lambda g: seen.append(("new", to_numpy(g) if lib == "gn" else g.numpy().copy())) or g * 2)
        a.sum().backward()
        res[lib] = seen, to_numpy(x.grad) if lib == "gn" else x.grad.numpy()
    assert [s[0] for s in res["gn"][0]] == [s[0] for s in res["torch"][0]]
    for (_, g1), (_, g2) in zip(res["gn"][0], res["torch"][0]):
        np.testing.assert_allclose(g1, g2)
    np.testing.assert_allclose(res["gn"][1], res["torch"][1])


def test_hooks_with_retain_graph_run_each_backward(backend):
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    z = x * 3
    n = []
    z.register_hook(lambda g: n.append(1))
    y = (z * z).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert len(n) == 2
    np.testing.assert_allclose(to_numpy(x.grad), 2 * 18 * np.array([1.0, 2.0]))


def test_no_hook_uses_the_fast_loop(monkeypatch, backend):
    def boom(*a):
        raise AssertionError("the general engine ran with no hook registered")
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    h = gn.tensor([0.0], requires_grad=True).register_hook(lambda g: g)
    h.remove()
    assert not _hooks.HOOKS
    monkeypatch.setattr(engine, "_run_backward_general", boom)
    (x * x).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), [2.0, 4.0])


def test_hook_registry_emptied_when_holder_dies(backend):
    import gc

    x = gn.tensor([1.0], requires_grad=True)
    (x * 2).register_hook(lambda g: g)  # on a grad_fn that dies with its tensor
    x.register_hook(lambda g: g)
    del x
    gc.collect()
    assert not _hooks.HOOKS


def test_hooks_in_training_match_plain_math(backend):
    """A hook that scales a parameter's gradient gives the gradient of the scaled loss."""
    from gpunet import nn

    gn.manual_seed(0)
    m = nn.Linear(4, 3)
    x = gn.randn(5, 4)
    m(x).sum().backward()
    ref = [to_numpy(p.grad) * 0.5 for p in m.parameters()]
    m.zero_grad()
    handles = [p.register_hook(lambda g: g * 0.5) for p in m.parameters()]
    m(x).sum().backward()
    for p, r in zip(m.parameters(), ref):
        np.testing.assert_allclose(to_numpy(p.grad), r, rtol=1e-6)
    for h in handles:
        h.remove()
