"""gn.autograd.grad and create_graph=True: gradients returned without touching .grad, and second (third)
derivatives against PyTorch float64 and against central differences of the first derivative."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet.autograd import grad

R = np.random.default_rng(7)


def _leaves(arrays, lib):
    if lib == "gn":
        return [gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    torch = torch_or_skip()
    return [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]


def _second_order(fn, xs, lib, v, u):
    """y = fn(xs); g = d<y, v>/dxs (with a graph); returns (g, d<g, u>/dxs)."""
    if lib == "gn":
        ag, V, U = grad, gn.tensor(v), [gn.tensor(w) for w in u]
    else:
        torch = torch_or_skip()
        ag, V, U = torch.autograd.grad, torch.tensor(v), [torch.tensor(w) for w in u]
    y = fn(*xs)
    g = ag(y, xs, V, create_graph=True, allow_unused=True)
    z = sum((gi * ui).sum() for gi, ui in zip(g, U) if gi is not None)
    h = ag(z, xs, allow_unused=True) if getattr(z, "requires_grad", False) else (None,) * len(xs)
    return g, h


def like_torch(fn_gn, fn_t, *arrays, rtol=1e-10, atol=1e-12):
    torch_or_skip()
    out_shape = tuple(fn_t(*_leaves(arrays, "t")).shape)
    v = R.standard_normal(out_shape)
    u = [R.standard_normal(np.shape(a)) for a in arrays]
    g, h = _second_order(fn_gn, _leaves(arrays, "gn"), "gn", v, u)
    gt, ht = _second_order(fn_t, _leaves(arrays, "t"), "t", v, u)
    for a, b in list(zip(g, gt)) + list(zip(h, ht)):
        if b is None or not b.requires_grad and not np.any(b.detach().numpy()):
            assert a is None or not np.any(to_numpy(a)), "torch has no gradient here"
            continue
        assert a is not None, "gpunet gave no gradient where torch has one"
        np.testing.assert_allclose(to_numpy(a), b.detach().numpy(), rtol=rtol, atol=atol)


def pos(*shape):
    return R.uniform(0.5, 2.0, shape)


def rnd(*shape):
    return R.standard_normal(shape)


CASES = {
    "add_mul_broadcast": (lambda a, b: a * b + a * a - b, lambda a, b: a * b + a * a - b, (rnd(3, 4), rnd(4))),
    "div": (lambda a, b: a / b, lambda a, b: a / b, (rnd(3, 4), pos(3, 4))),
    "neg_scalar": (lambda a: -(3.0 * a) / 2.0 + 1.0, lambda a: -(3.0 * a) / 2.0 + 1.0, (rnd(5),)),
    "rdiv": (lambda a: 2.0 / a, lambda a: 2.0 / a, (pos(5),)),
    "pow_scalar": (lambda a: a ** 3 + a ** 2.5, lambda a: a ** 3 + a ** 2.5, (pos(4),)),
    "pow_tensor": (lambda a, b: a ** b, lambda a, b: a ** b, (pos(4), rnd(4))),
    "rpow": (lambda b: 2.0 ** b, lambda b: 2.0 ** b, (rnd(4),)),
    "exp_log_sqrt": (lambda a: a.exp() * a.log() + a.sqrt(), lambda a: a.exp() * a.log() + a.sqrt(), (pos(6),)),
    "abs": (lambda a: a.abs() * a, lambda a: a.abs() * a, (rnd(6),)),
    "tanh": (lambda a: F.tanh(a), lambda a: a.tanh(), (rnd(6),)),
    "sigmoid": (lambda a: F.sigmoid(a), lambda a: a.sigmoid(), (rnd(6),)),
    "relu_leaky": (lambda a: F.relu(a) * a + F.leaky_relu(a, 0.1) * a,
                   lambda a: a.relu() * a + __import__("torch").nn.functional.leaky_relu(a, 0.1) * a, (rnd(6),)),
    "gelu": (lambda a: F.gelu(a), lambda a: __import__("torch").nn.functional.gelu(a), (rnd(6),)),
    "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"),
                  lambda a: __import__("torch").nn.functional.gelu(a, approximate="tanh"), (rnd(6),)),
    "silu_elu": (lambda a: F.silu(a) + F.elu(a), lambda a: __import__("torch").nn.functional.silu(a)
                 + __import__("torch").nn.functional.elu(a), (rnd(6),)),
    "softplus": (lambda a: F.softplus(a, beta=2.0), lambda a: __import__("torch").nn.functional.softplus(a, beta=2.0),
                 (rnd(6),)),
    "sin_cos": (lambda a: a.sin() * a.cos(), lambda a: a.sin() * a.cos(), (rnd(6),)),
    "unary_more": (lambda a: a.log1p() + a.expm1() + a.rsqrt() + a.reciprocal() + a.square(),
                   lambda a: a.log1p() + a.expm1() + a.rsqrt() + a.reciprocal() + a.square(), (pos(6),)),
    "sum_mean": (lambda a: (a * a).sum(1) + (a * a).mean(0, keepdim=True).sum() + (a ** 2).mean(),
                 lambda a: (a * a).sum(1) + (a * a).mean(0, keepdim=True).sum() + (a ** 2).mean(), (rnd(3, 4),)),
    "reshape_transpose": (lambda a: (a.reshape(4, 3).T * a.permute(1, 0).transpose(0, 1).reshape(3, 4)) ** 2,
                          lambda a: (a.reshape(4, 3).T * a.permute(1, 0).transpose(0, 1).reshape(3, 4)) ** 2,
                          (rnd(3, 4),)),
    "getitem": (lambda a: a[1:, ::2] ** 2 + a[[0, 0, 2]][:, :2].sum() ** 2,
                lambda a: a[1:, ::2] ** 2 + a[[0, 0, 2]][:, :2].sum() ** 2, (rnd(3, 4),)),
    "expand": (lambda a: a.expand(3, 4) ** 2, lambda a: a.expand(3, 4) ** 2, (rnd(1, 4),)),
    "matmul": (lambda a, b: (a @ b).tanh(), lambda a, b: (a @ b).tanh(), (rnd(3, 4), rnd(4, 2))),
    "matmul_batched_1d": (lambda a, b, c: (a @ b).tanh() @ c, lambda a, b, c: (a @ b).tanh() @ c,
                          (rnd(2, 3, 4), rnd(4, 2), rnd(2))),
    "matmul_vec": (lambda a, b: (a @ b) ** 2, lambda a, b: (a @ b) ** 2, (rnd(4), rnd(4, 3))),
    "softmax_logsoftmax": (lambda a: F.softmax(a, 1) * F.log_softmax(a, 1),
                           lambda a: a.softmax(1) * a.log_softmax(1), (rnd(3, 4),)),
    "max_min": (lambda a: a.max() * a.min() + a.max(1)[0].sum() * a.amin(0).sum(),
                lambda a: a.max() * a.min() + a.max(1)[0].sum() * a.amin(0).sum(), (rnd(3, 4),)),
    "where": (lambda a, b: F.where(a > 0, a * b, b * b), lambda a, b: __import__("torch").where(a > 0, a * b, b * b),
              (rnd(3, 4), rnd(3, 4))),
    "cat_stack": (lambda a, b: F.cat([a * b, a], 0) * F.stack([a, b], 0).sum(0).sum(),
                  lambda a, b: __import__("torch").cat([a * b, a], 0) * __import__("torch").stack([a, b], 0).sum(),
                  (rnd(2, 3), rnd(2, 3))),
    "clamp_maximum": (lambda a, b: a.clamp(-0.5, 0.5) * a + gn.maximum(a, b) ** 2,
                      lambda a, b: a.clamp(-0.5, 0.5) * a + __import__("torch").maximum(a, b) ** 2,
                      (rnd(6), rnd(6))),
    "mse": (lambda a, b: F.mse_loss(a.tanh(), b), lambda a, b: __import__("torch").nn.functional.mse_loss(a.tanh(), b),
            (rnd(3, 4), rnd(3, 4))),
    "mse_sum": (lambda a, b: F.mse_loss(a * a, b, reduction="sum"),
                lambda a, b: __import__("torch").nn.functional.mse_loss(a * a, b, reduction="sum"),
                (rnd(3, 4), rnd(3, 4))),
    "soft_cross_entropy": (lambda a, q: F.cross_entropy(a * a, q.softmax(1)),
                           lambda a, q: __import__("torch").nn.functional.cross_entropy(a * a, q.softmax(1)),
                           (rnd(3, 4), rnd(3, 4))),
    "var_std_logsumexp": (lambda a: a.var(1).sum() * a.std() + a.logsumexp(0) ** 2,
                          lambda a: a.var(1).sum() * a.std() + a.logsumexp(0) ** 2, (rnd(3, 4),)),
    "cumsum_tri_flip_roll": (lambda a: (a.cumsum(1) * a.tril() * a.flip(0) * a.roll(1, 1)) ** 2,
                             lambda a: (a.cumsum(1) * a.tril() * a.flip(0) * a.roll(1, 1)) ** 2, (rnd(3, 3),)),
    "repeat": (lambda a: (a.repeat(2, 1) ** 3).sum() + a.repeat_interleave(2, dim=1) ** 2,
               lambda a: (a.repeat(2, 1) ** 3).sum() + a.repeat_interleave(2, dim=1) ** 2,
               (rnd(2, 3),)),
    "gather_scatter_select": (
        lambda a, s: (a.gather(1, gn.tensor([[0, 2], [1, 1]])) ** 2).sum() * a.scatter(1, gn.tensor([[2], [0]]), s)
        + a.index_select(1, gn.tensor([2, 0, 2])).sum() ** 2 + a.masked_select(gn.tensor([[True, False, True]])).sum()
        ** 3 + a.masked_fill(gn.tensor([[False, True, False]]), 1.0) * a,
        lambda a, s: (a.gather(1, __import__("torch").tensor([[0, 2], [1, 1]])) ** 2).sum()
        * a.scatter(1, __import__("torch").tensor([[2], [0]]), s)
        + a.index_select(1, __import__("torch").tensor([2, 0, 2])).sum() ** 2
        + a.masked_select(__import__("torch").tensor([[True, False, True]])).sum() ** 3
        + a.masked_fill(__import__("torch").tensor([[False, True, False]]), 1.0) * a, (rnd(2, 3), rnd(2, 1))),
    "sort_topk": (lambda a: a.sort(1)[0] * a + a.topk(2, 1)[0].sum() ** 2,
                  lambda a: a.sort(1)[0] * a + a.topk(2, 1)[0].sum() ** 2, (rnd(2, 4),)),
    "extra_activations": (lambda a: F.selu(a) * F.logsigmoid(a) + F.mish(a) * F.hardswish(a) + F.glu(a * a, 1).sum(),
                          lambda a: __import__("torch").nn.functional.selu(a)
                          * __import__("torch").nn.functional.logsigmoid(a)
                          + __import__("torch").nn.functional.mish(a) * __import__("torch").nn.functional.hardswish(a)
                          + __import__("torch").nn.functional.glu(a * a, 1).sum(), (rnd(3, 4) * 2,)),
    "prelu": (lambda a, w: F.prelu(a * a - 1, w), lambda a, w: __import__("torch").nn.functional.prelu(a * a - 1, w),
              (rnd(2, 3, 2), rnd(3))),
    "bce": (lambda a, y: F.binary_cross_entropy(a.sigmoid(), y.sigmoid()) + F.binary_cross_entropy_with_logits(a, y),
            lambda a, y: __import__("torch").nn.functional.binary_cross_entropy(a.sigmoid(), y.sigmoid())
            + __import__("torch").nn.functional.binary_cross_entropy_with_logits(a, y), (rnd(3, 4), rnd(3, 4))),
    "l1": (lambda a, b: F.l1_loss(a * a, b), lambda a, b: __import__("torch").nn.functional.l1_loss(a * a, b),
           (rnd(3, 4), rnd(3, 4))),
    "robust_kl": (lambda a, b: F.smooth_l1_loss(a * a, b, beta=0.5) + F.huber_loss(a * a, b, delta=0.7)
                  + F.kl_div(F.log_softmax(a, 1), b.softmax(1), reduction="batchmean"),
                  lambda a, b: __import__("torch").nn.functional.smooth_l1_loss(a * a, b, beta=0.5)
                  + __import__("torch").nn.functional.huber_loss(a * a, b, delta=0.7)
                  + __import__("torch").nn.functional.kl_div(a.log_softmax(1), b.softmax(1), reduction="batchmean"),
                  (rnd(3, 4), rnd(3, 4))),
    "pad_normalize_cosine": (lambda a, b: F.pad(a, (1, 2), value=0.5) ** 2 * 1.0
                             + (F.normalize(a, dim=1) * F.cosine_similarity(a, b).reshape(3, 1)).sum(),
                             lambda a, b: __import__("torch").nn.functional.pad(a, (1, 2), value=0.5) ** 2
                             + (__import__("torch").nn.functional.normalize(a, dim=1)
                                * __import__("torch").nn.functional.cosine_similarity(a, b).reshape(3, 1)).sum(),
                             (rnd(3, 4), rnd(3, 4))),
    "norm": (lambda a: a.norm(2, 1) ** 3 + a.norm(1) ** 2, lambda a: a.norm(2, 1) ** 3 + a.norm(1) ** 2,
             (rnd(3, 4),)),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivative_like_torch(name):
    fn_gn, fn_t, arrays = CASES[name]
    like_torch(fn_gn, fn_t, *arrays)


@pytest.mark.torch
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_double_backward(smoothing, weighted):
    torch = torch_or_skip()
    t = np.array([0, 2, 1, 2, -100])
    w = np.array([0.5, 1.0, 2.0])

    def f_gn(x):
        return F.cross_entropy(x * x, gn.tensor(t), weight=gn.tensor(w) if weighted else None,
                               label_smoothing=smoothing)

    def f_t(x):
        return torch.nn.functional.cross_entropy(x * x, torch.tensor(t), weight=torch.tensor(w) if weighted else None,
                                                 label_smoothing=smoothing)
    like_torch(f_gn, f_t, rnd(5, 3))
    like_torch(lambda x: F.nll_loss(F.log_softmax(x, 1), gn.tensor(t)),
               lambda x: torch.nn.functional.nll_loss(x.log_softmax(1), torch.tensor(t)), rnd(5, 3))


@pytest.mark.torch
@pytest.mark.parametrize("act", [None, "relu", "tanh", "sigmoid", "leaky_relu", "gelu", "silu"])
def test_linear_double_backward(act):
    torch = torch_or_skip()
    tf = {None: lambda z: z, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "gelu":
          torch.nn.functional.gelu, "silu": torch.nn.functional.silu,
          "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01)}[act]
    like_torch(lambda x, W, b: F.linear(x, W, b, activation=act),
               lambda x, W, b: tf(torch.nn.functional.linear(x, W, b)), rnd(2, 3, 4), rnd(5, 4), rnd(5))


def test_third_derivative_of_cube():
    x = gn.tensor([0.5, -1.5, 2.0], dtype=np.float64, requires_grad=True)
    g, = grad((x ** 3).sum(), x, create_graph=True)
    h, = grad(g.sum(), x, create_graph=True)
    t, = grad(h.sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())
    np.testing.assert_allclose(t.numpy(), [6.0, 6.0, 6.0])


def _mlp_gn(params, x):
    W1, b1, W2, b2 = params
    return F.linear(F.linear(x, W1, b1, activation="tanh"), W2, b2)


@pytest.mark.torch
def test_hessian_vector_product_like_torch():
    torch = torch_or_skip()
    shapes = [(6, 3), (6,), (1, 6), (1,)]
    arrays = [R.standard_normal(s) * 0.7 for s in shapes]
    xa, ya = R.standard_normal((8, 3)), R.standard_normal((8, 1))
    vs = [R.standard_normal(s) for s in shapes]
    ps = _leaves(arrays, "gn")
    loss = F.mse_loss(_mlp_gn(ps, gn.tensor(xa)), gn.tensor(ya))
    gs = grad(loss, ps, create_graph=True)
    hv = grad(sum((g * gn.tensor(v)).sum() for g, v in zip(gs, vs)), ps)
    pt = _leaves(arrays, "t")
    out = torch.nn.functional.linear(torch.tanh(torch.nn.functional.linear(torch.tensor(xa), pt[0], pt[1])), pt[2],
                                     pt[3])
    lt = torch.nn.functional.mse_loss(out, torch.tensor(ya))
    gt = torch.autograd.grad(lt, pt, create_graph=True)
    hvt = torch.autograd.grad(sum((g * torch.tensor(v)).sum() for g, v in zip(gt, vs)), pt)
    for a, b in zip(hv, hvt):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_gradient_penalty_wgan_gp_like_torch():
    """||∇_x D(x)||² backpropagated into the weights of an MLP critic (nn.Sequential: the fused chain)."""
    torch = torch_or_skip()
    gn.manual_seed(0)
    D = gn.nn.Sequential(gn.nn.Linear(4, 8), gn.nn.ReLU(), gn.nn.Linear(8, 8), gn.nn.Tanh(), gn.nn.Linear(8, 1))
    for p in D.parameters():
        p.data = p.data.astype(np.float64)
    Dt = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
                             torch.nn.Linear(8, 1)).double()
    Dt.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in D.state_dict().items()})
    xa = R.standard_normal((5, 4))
    x = gn.tensor(xa, requires_grad=True)
    gx, = grad(D(x).sum(), x, create_graph=True)
    penalty = ((gx.norm(2, dim=1) - 1) ** 2).mean()
    penalty.backward()
    xt = torch.tensor(xa, requires_grad=True)
    gxt, = torch.autograd.grad(Dt(xt).sum(), xt, create_graph=True)
    pt = ((gxt.norm(2, dim=1) - 1) ** 2).mean()
    pt.backward()
    np.testing.assert_allclose(penalty.item(), pt.item(), rtol=1e-12)
    for (name, p), (_, q) in zip(D.named_parameters(), Dt.named_parameters()):
        if q.grad is None:  # the last bias: the penalty does not depend on it
            assert p.grad is None or not np.any(p.grad.numpy()), name
            continue
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_second_derivative_by_central_differences(backend):
    """d/dx of the (recorded) first derivative against float64 central differences, on every backend."""
    x = gn.tensor(R.uniform(0.5, 1.5, (2, 3)), dtype=np.float64, requires_grad=True)
    W = gn.tensor(R.standard_normal((4, 3)), dtype=np.float64, requires_grad=True)

    def first(x, W):
        y = (F.linear(x, W, activation="tanh") ** 2).sum() + (x.log() * x.sigmoid()).sum()
        return grad(y, [x, W], create_graph=True)[0]
    assert gn.gradcheck(first, [x, W])


# ====================================================================== grad() semantics
def test_grad_leaves_dot_grad_alone_and_sums_outputs():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    g, = grad([y.sum(), (3 * x).sum()], [x])
    np.testing.assert_allclose(g.numpy(), [5.0, 7.0])
    assert x.grad is None and not g.requires_grad


def test_grad_outputs_and_non_leaf_inputs():
    x = gn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    y = h * h
    gh, gx = grad(y, [h, x], grad_outputs=gn.tensor([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(gh.numpy(), [4.0, 0.0, 24.0])
    np.testing.assert_allclose(gx.numpy(), [8.0, 0.0, 48.0])


def test_grad_unused_and_errors():
    x = gn.tensor([1.0], requires_grad=True)
    z = gn.tensor([2.0], requires_grad=True)
    y = (x * 3).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        grad(y, [x, z], retain_graph=True)
    _, gz = grad(y, [x, z], allow_unused=True, retain_graph=True)
    assert gz is None
    _, gz = grad(y, [x, z], materialize_grads=True, retain_graph=True)
    np.testing.assert_array_equal(gz.numpy(), [0.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        grad(y, [gn.tensor([1.0])])
    x2 = gn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        grad(x2 * 2, x2)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        grad(x2 * 2, x2, grad_outputs=gn.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(NotImplementedError, match="is_grads_batched"):
        grad(y, x, is_grads_batched=True)
    grad(y, x)  # the graph is freed now
    with pytest.raises(RuntimeError, match="already freed"):
        grad(y, x)


def test_backward_create_graph_sets_grad_with_graph():
    x = gn.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.grad_fn is not None
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0])


def test_dropout_double_backward():
    gn.manual_seed(3)
    x = gn.tensor(R.standard_normal(20), dtype=np.float64, requires_grad=True)
    y = F.dropout(x * x, 0.5)
    g, = grad(y.sum(), x, create_graph=True)
    h, = grad(g.sum(), x)
    kept = y.numpy() != 0
    np.testing.assert_allclose(h.numpy(), np.where(kept, 4.0, 0.0))


def test_double_backward_not_implemented_names_the_op():
    x = gn.tensor([[1.0, 2.0, 0.5, 3.0]], requires_grad=True)
    y = F.maxout(x, 2).sum()
    with pytest.raises(RuntimeError, match="double backward is not implemented for Maxout"):
        grad(y, x, create_graph=True)


def test_hooks_run_in_grad_and_create_graph():
    x = gn.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    h = x * x
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 2)
    g, = grad(h.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), [4.0, 8.0])
    assert g.requires_grad and len(seen) == 1


@pytest.mark.torch
def test_double_backward_through_inplace_writes_like_torch():
    torch = torch_or_skip()

    def f(x, relu, silu):
        h = x * 2
        h[0] = x[1] * 3
        h.mul_(x)
        h += x ** 2
        k = x * 1.5
        relu(k, inplace=True)
        m = x * 2
        silu(m, inplace=True)
        return (h ** 2).sum() + (k * m * x).sum()

    a = np.array([0.3, -1.2, 2.0])
    like_torch(lambda x: f(x, F.relu, F.silu),
               lambda x: f(x, torch.nn.functional.relu, torch.nn.functional.silu), a)


def test_float32_and_retain_grad_with_create_graph():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    h = (x * x).retain_grad()
    (h * h).sum().backward(create_graph=True)
    assert x.grad.dtype == np.float32 and h.grad.requires_grad
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy() ** 3)
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
