"""Losses (gpunet.functional.loss): every loss with every reduction against a NumPy float64 reference, backward by
gn.gradcheck in float64, forward and gradients against PyTorch (float64) where installed; the fused
cross-entropy path, numerical stability, and the error messages."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip

import gpunet as gn
from gpunet.functional import activation as A
from gpunet.functional import loss as L

REDUCTIONS = ["mean", "sum", "none"]


# ---------------------------------------------------------------------------------------------- NumPy references
def _reduce(loss, red, denom=None):
    if red == "none":
        return loss
    return loss.sum() if red == "sum" else loss.sum() / (loss.size if denom is None else denom)


def _log_softmax(x, axis):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _classes_last(x, target):
    """(N, C, d...) / (C,) inputs as (..., C) with targets (...)."""
    if x.ndim == 1:
        return x[None], np.asarray(target)[None], True
    return np.moveaxis(x, 1, -1), target, False


def ref_nll_rows(red, logp, target, weight=None, ignore_index=-100, smoothing=0.0):
    c = logp.shape[-1]
    w = np.ones(c) if weight is None else weight
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    nll = -np.take_along_axis(logp, safe[..., None], -1)[..., 0] * w[safe] * keep
    smooth = -(logp * w).sum(-1) * keep
    return _reduce((1 - smoothing) * nll + smoothing / c * smooth, red, (w[safe] * keep).sum())


def ref_cross_entropy(red, x, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    xm, t, unbatched = _classes_last(x, target)
    out = ref_nll_rows(red, _log_softmax(xm, -1), t, weight, ignore_index, label_smoothing)
    return out[0] if unbatched and red == "none" else out


def ref_nll(red, logp, target, weight=None, ignore_index=-100):
    xm, t, unbatched = _classes_last(logp, target)
    out = ref_nll_rows(red, xm, t, weight, ignore_index)
    return out[0] if unbatched and red == "none" else out


def ref_soft_cross_entropy(red, x, q, weight=None, label_smoothing=0.0):
    axis = 1 if x.ndim > 1 else 0
    c = x.shape[axis]
    shape = [1] * x.ndim
    shape[axis] = c
    w = np.ones(shape) if weight is None else weight.reshape(shape)
    q = q * (1 - label_smoothing) + label_smoothing / c
    return _reduce(-(_log_softmax(x, axis) * q * w).sum(axis), red)


def ref_bce(red, x, y, weight=None):
    w = 1.0 if weight is None else weight
    loss = -w * (y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log(1 - x), -100))
    return _reduce(loss, red)


def ref_bce_logits(red, x, y, weight=None, pos_weight=None):
    s = 1 / (1 + np.exp(-x))
    pw = 1.0 if pos_weight is None else pos_weight
    w = 1.0 if weight is None else weight
    return _reduce(-w * (pw * y * np.log(s) + (1 - y) * np.log(1 - s)), red)


def ref_gaussian_nll(red, x, y, var, full=False, eps=1e-6):
    if np.ndim(var) == x.ndim - 1:
        var = var[..., None]
    v = np.maximum(var, eps)
    loss = 0.5 * (np.log(v) + (x - y) ** 2 / v) + (0.5 * np.log(2 * np.pi) if full else 0.0)
    return _reduce(loss, red)


def ref_multi_margin(red, x, target, p=1, margin=1.0, weight=None):
    x2, t = (x[None], np.asarray(target)[None]) if x.ndim == 1 else (x, target)
    n, c = x2.shape
    out = np.zeros(n)
    for i in range(n):
        for j in range(c):
            if j != t[i]:
                h = max(0.0, margin - x2[i, t[i]] + x2[i, j]) ** p
                out[i] += h * (1.0 if weight is None else weight[t[i]])
    out /= c
    if x.ndim == 1 and red == "none":
        return out[0]
    return _reduce(out, red)


# ---------------------------------------------------------------------------------------------- test data
def softmax_rows(rng, shape, axis=1):
    e = np.exp(rng.standard_normal(shape))
    return e / e.sum(axis=axis, keepdims=True)


def margin_data(rng, n, c, margin):
    """Scores whose hinge terms stay at least 0.05 from their kink, with their targets."""
    while True:
        x = rng.standard_normal((n, c))
        t = rng.integers(0, c, n)
        h = margin - x[np.arange(n), t][:, None] + x
        h[np.arange(n), t] = 1.0
        if np.abs(h).min() > 0.05:
            return x, t


def away(x, y, gap=0.1):
    """``x`` moved so that |x − y| ≥ gap everywhere (keeps |·| differentiable at the data)."""
    d = x - y
    return np.where(np.abs(d) < gap, y + np.where(d >= 0, gap, -gap) * 2, x)


# name: (make(rng) -> (differentiable arrays, constants), gpunet call, NumPy reference, torch call or None)
# Each call is (reduction, *arrays, **constants); the torch call gets torch.nn.functional first.
CASES = {
    "mse": (lambda r: ([r.standard_normal((3, 4)), r.standard_normal((3, 4))], {}),
            lambda red, x, y: L.mse_loss(x, y, reduction=red),
            lambda red, x, y: _reduce((x - y) ** 2, red),
            lambda F, red, x, y: F.mse_loss(x, y, reduction=red)),
    "mse_weight": (lambda r: ([r.standard_normal((3, 4)), r.standard_normal((3, 4))],
                              {"weight": r.uniform(0.5, 2, (3, 4))}),
                   lambda red, x, y, weight: L.mse_loss(x, y, reduction=red, weight=weight),
                   lambda red, x, y, weight: _reduce(weight * (x - y) ** 2, red, weight.sum()),
                   lambda F, red, x, y, weight: F.mse_loss(x, y, reduction=red, weight=weight)),
    "l1": (lambda r: (lambda y: ([away(r.standard_normal((3, 4)), y), y], {}))(r.standard_normal((3, 4))),
           lambda red, x, y: L.l1_loss(x, y, reduction=red),
           lambda red, x, y: _reduce(np.abs(x - y), red),
           lambda F, red, x, y: F.l1_loss(x, y, reduction=red)),
    "l1_weight": (lambda r: (lambda y: ([away(r.standard_normal((3, 4)), y), y],
                                        {"weight": r.uniform(0.5, 2, (3, 4))}))(r.standard_normal((3, 4))),
                  lambda red, x, y, weight: L.l1_loss(x, y, reduction=red, weight=weight),
                  lambda red, x, y, weight: _reduce(weight * np.abs(x - y), red, weight.sum()),
                  lambda F, red, x, y, weight: F.l1_loss(x, y, reduction=red, weight=weight)),
    "rmse": (lambda r: (lambda y: ([away(r.standard_normal((3, 4)), y), y], {}))(r.standard_normal((3, 4))),
             lambda red, x, y: L.rmse_loss(x, y, reduction=red),
             lambda red, x, y: np.abs(x - y) if red == "none" else np.sqrt(_reduce((x - y) ** 2, red)),
             lambda F, red, x, y: (x - y).abs() if red == "none" else F.mse_loss(x, y, reduction=red).sqrt()),
    "cross_entropy": (lambda r: ([r.standard_normal((4, 5)) * 3], {"target": r.integers(0, 5, 4)}),
                      lambda red, x, target: L.cross_entropy(x, target, reduction=red),
                      lambda red, x, target: ref_cross_entropy(red, x, target),
                      lambda F, red, x, target: F.cross_entropy(x, target, reduction=red)),
    "cross_entropy_weight_smoothing_ignore": (
        lambda r: ([r.standard_normal((6, 4)) * 3],
                   {"target": np.array([0, 3, -100, 2, 1, 3]), "weight": r.uniform(0.5, 2, 4)}),
        lambda red, x, target, weight: L.cross_entropy(x, target, weight, reduction=red, label_smoothing=0.2),
        lambda red, x, target, weight: ref_cross_entropy(red, x, target, weight, label_smoothing=0.2),
        lambda F, red, x, target, weight: F.cross_entropy(x, target, weight, reduction=red, label_smoothing=0.2)),
    "cross_entropy_smoothing": (
        lambda r: ([r.standard_normal((4, 5))], {"target": r.integers(0, 5, 4)}),
        lambda red, x, target: L.cross_entropy(x, target, reduction=red, label_smoothing=0.1),
        lambda red, x, target: ref_cross_entropy(red, x, target, label_smoothing=0.1),
        lambda F, red, x, target: F.cross_entropy(x, target, reduction=red, label_smoothing=0.1)),
    "cross_entropy_nd": (lambda r: ([r.standard_normal((2, 4, 3))], {"target": r.integers(0, 4, (2, 3))}),
                         lambda red, x, target: L.cross_entropy(x, target, reduction=red),
                         lambda red, x, target: ref_cross_entropy(red, x, target),
                         lambda F, red, x, target: F.cross_entropy(x, target, reduction=red)),
    "cross_entropy_nd_all_options": (
        lambda r: ([r.standard_normal((2, 3, 2, 2))],
                   {"target": np.array([[[0, 2], [1, 2]], [[1, 0], [0, 1]]]), "weight": r.uniform(0.5, 2, 3)}),
        lambda red, x, target, weight: L.cross_entropy(x, target, weight, ignore_index=2, reduction=red,
                                                       label_smoothing=0.3),
        lambda red, x, target, weight: ref_cross_entropy(red, x, target, weight, 2, 0.3),
        lambda F, red, x, target, weight: F.cross_entropy(x, target, weight, ignore_index=2, reduction=red,
                                                          label_smoothing=0.3)),
    "cross_entropy_unbatched": (lambda r: ([r.standard_normal(5)], {"target": np.array(3)}),
                                lambda red, x, target: L.cross_entropy(x, target, reduction=red),
                                lambda red, x, target: ref_cross_entropy(red, x, target),
                                lambda F, red, x, target: F.cross_entropy(x, target, reduction=red)),
    "cross_entropy_probs": (lambda r: ([r.standard_normal((4, 5)), softmax_rows(r, (4, 5))], {}),
                            lambda red, x, q: L.cross_entropy(x, q, reduction=red),
                            lambda red, x, q: ref_soft_cross_entropy(red, x, q),
                            lambda F, red, x, q: F.cross_entropy(x, q, reduction=red)),
    "cross_entropy_probs_nd_weight_smoothing": (
        lambda r: ([r.standard_normal((2, 4, 3)), softmax_rows(r, (2, 4, 3))], {"weight": r.uniform(0.5, 2, 4)}),
        lambda red, x, q, weight: L.cross_entropy(x, q, weight, reduction=red, label_smoothing=0.25),
        lambda red, x, q, weight: ref_soft_cross_entropy(red, x, q, weight, 0.25),
        lambda F, red, x, q, weight: F.cross_entropy(x, q, weight, reduction=red, label_smoothing=0.25)),
    "nll": (lambda r: ([r.standard_normal((4, 5))], {"target": r.integers(0, 5, 4)}),
            lambda red, x, target: L.nll_loss(x, target, reduction=red),
            lambda red, x, target: ref_nll(red, x, target),
            lambda F, red, x, target: F.nll_loss(x, target, reduction=red)),
    "nll_nd_weight_ignore": (
        lambda r: ([r.standard_normal((2, 3, 4))],
                   {"target": np.array([[0, 1, -100, 2], [2, 2, 0, -100]]), "weight": r.uniform(0.5, 2, 3)}),
        lambda red, x, target, weight: L.nll_loss(x, target, weight, reduction=red),
        lambda red, x, target, weight: ref_nll(red, x, target, weight),
        lambda F, red, x, target, weight: F.nll_loss(x, target, weight, reduction=red)),
    "bce": (lambda r: ([r.uniform(0.05, 0.95, (3, 4)), r.uniform(0, 1, (3, 4))], {}),
            lambda red, x, y: L.binary_cross_entropy(x, y, reduction=red),
            lambda red, x, y: ref_bce(red, x, y),
            lambda F, red, x, y: F.binary_cross_entropy(x, y, reduction=red)),
    "bce_weight": (lambda r: ([r.uniform(0.05, 0.95, (3, 4)), r.uniform(0, 1, (3, 4))],
                              {"weight": r.uniform(0.5, 2, 4)}),
                   lambda red, x, y, weight: L.binary_cross_entropy(x, y, weight, reduction=red),
                   lambda red, x, y, weight: ref_bce(red, x, y, weight),
                   lambda F, red, x, y, weight: F.binary_cross_entropy(x, y, weight, reduction=red)),
    "bce_with_logits": (lambda r: ([r.standard_normal((3, 4)) * 3, r.uniform(0, 1, (3, 4))], {}),
                        lambda red, x, y: L.binary_cross_entropy_with_logits(x, y, reduction=red),
                        lambda red, x, y: ref_bce_logits(red, x, y),
                        lambda F, red, x, y: F.binary_cross_entropy_with_logits(x, y, reduction=red)),
    "bce_with_logits_weights": (
        lambda r: ([r.standard_normal((3, 4)) * 3, r.uniform(0, 1, (3, 4))],
                   {"weight": r.uniform(0.5, 2, (3, 1)), "pos_weight": r.uniform(0.5, 3, 4)}),
        lambda red, x, y, weight, pos_weight: L.binary_cross_entropy_with_logits(
            x, y, weight, reduction=red, pos_weight=pos_weight),
        lambda red, x, y, weight, pos_weight: ref_bce_logits(red, x, y, weight, pos_weight),
        lambda F, red, x, y, weight, pos_weight: F.binary_cross_entropy_with_logits(
            x, y, weight, reduction=red, pos_weight=pos_weight)),
    "gaussian_nll": (lambda r: ([r.standard_normal((3, 4)), r.standard_normal((3, 4)), r.uniform(0.3, 2, (3, 4))],
                                {}),
                     lambda red, x, y, v: L.gaussian_nll_loss(x, y, v, reduction=red),
                     lambda red, x, y, v: ref_gaussian_nll(red, x, y, v),
                     lambda F, red, x, y, v: F.gaussian_nll_loss(x, y, v, reduction=red)),
    "gaussian_nll_one_var_per_row_full": (
        lambda r: ([r.standard_normal((3, 4)), r.standard_normal((3, 4)), r.uniform(0.3, 2, 3)], {}),
        lambda red, x, y, v: L.gaussian_nll_loss(x, y, v, full=True, reduction=red),
        lambda red, x, y, v: ref_gaussian_nll(red, x, y, v, full=True),
        lambda F, red, x, y, v: F.gaussian_nll_loss(x, y, v, full=True, reduction=red)),
    "gaussian_nll_var_size_1_dim": (
        lambda r: ([r.standard_normal((2, 3, 4)), r.standard_normal((2, 3, 4)), r.uniform(0.3, 2, (2, 1, 4))],
                   {}),
        lambda red, x, y, v: L.gaussian_nll_loss(x, y, v, reduction=red),
        lambda red, x, y, v: ref_gaussian_nll(red, x, y, v),
        lambda F, red, x, y, v: F.gaussian_nll_loss(x, y, v, reduction=red)),
    "multi_margin": (lambda r: (lambda xt: ([xt[0]], {"target": xt[1]}))(margin_data(r, 4, 5, 1.0)),
                     lambda red, x, target: L.multi_margin_loss(x, target, reduction=red),
                     lambda red, x, target: ref_multi_margin(red, x, target),
                     lambda F, red, x, target: F.multi_margin_loss(x, target, reduction=red)),
    "multi_margin_p2_weight": (
        lambda r: (lambda xt: ([xt[0]], {"target": xt[1], "weight": r.uniform(0.5, 2, 5)}))(
            margin_data(r, 4, 5, 0.5)),
        lambda red, x, target, weight: L.multi_margin_loss(x, target, p=2, margin=0.5, weight=weight,
                                                           reduction=red),
        lambda red, x, target, weight: ref_multi_margin(red, x, target, 2, 0.5, weight),
        lambda F, red, x, target, weight: F.multi_margin_loss(x, target, p=2, margin=0.5, weight=weight,
                                                              reduction=red)),
    "multi_margin_unbatched": (
        lambda r: (lambda xt: ([xt[0][0]], {"target": np.array(xt[1][0])}))(margin_data(r, 1, 4, 1.0)),
        lambda red, x, target: L.multi_margin_loss(x, target, reduction=red),
        lambda red, x, target: ref_multi_margin(red, x, target),
        lambda F, red, x, target: F.multi_margin_loss(x, target, reduction=red)),
}


def leaf(a) -> gn.Tensor:
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def build(name, seed=0):
    arrays, consts = CASES[name][0](np.random.default_rng(seed))
    return [np.asarray(a, dtype=np.float64) for a in arrays], consts


# ---------------------------------------------------------------------------------------------- every loss
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(CASES))
def test_forward_matches_numpy_reference(backend, name, reduction):
    arrays, consts = build(name)
    out = CASES[name][1](reduction, *[leaf(a) for a in arrays], **consts)
    expect = CASES[name][2](reduction, *arrays, **consts)
    assert out.dtype == np.float64
    assert out.shape == np.shape(expect)
    np.testing.assert_allclose(to_numpy(out), expect, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(backend, name, reduction):
    arrays, consts = build(name)
    assert gn.gradcheck(lambda *ts: CASES[name][1](reduction, *ts, **consts), [leaf(a) for a in arrays])


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(CASES))
def test_forward_and_gradients_match_torch(backend, name, reduction):
    torch = torch_or_skip()
    arrays, consts = build(name)
    ts = [leaf(a) for a in arrays]
    out = CASES[name][1](reduction, *ts, **consts)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(g)
    txs = [torch.tensor(a, requires_grad=True) for a in arrays]
    tconsts = {k: torch.as_tensor(v) for k, v in consts.items()}
    tout = CASES[name][3](torch.nn.functional, reduction, *txs, **tconsts)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=1e-12, atol=1e-13)
    for i, (t, tx) in enumerate(zip(ts, txs, strict=True)):
        assert tx.grad is not None, f"torch gives no gradient for argument {i}"
        np.testing.assert_allclose(to_numpy(t.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"gradient of argument {i}")


@pytest.mark.parametrize("name", ["mse", "l1", "rmse", "cross_entropy", "cross_entropy_probs", "nll", "bce",
                                  "bce_with_logits", "gaussian_nll", "multi_margin"])
def test_float32_in_float32_out(backend, name):
    arrays, consts = build(name)
    ts = [gn.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    out = CASES[name][1]("mean", *ts, **consts)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.item(), CASES[name][2]("mean", *arrays, **consts), rtol=1e-5)
    out.backward()
    assert all(t.grad.dtype == np.float32 for t in ts)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_invalid_reduction_names_the_choices(backend, reduction):
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"reduction='avg'.*'mean', 'sum' or 'none'"):
        L.mse_loss(x, x, reduction="avg")
    L.mse_loss(x, x, reduction=reduction)  # the valid ones pass


# ---------------------------------------------------------------------------------------------- cross-entropy
def test_fused_cross_entropy_backward_is_softmax_minus_onehot_over_n(backend, rng):
    x = rng.standard_normal((6, 4)) * 5
    target = rng.integers(0, 4, 6)
    t = leaf(x)
    L.cross_entropy(t, target).backward()
    p = np.exp(_log_softmax(x, 1))
    np.testing.assert_allclose(to_numpy(t.grad), (p - np.eye(4)[target]) / 6, rtol=1e-12, atol=1e-15)


def test_index_cross_entropy_runs_the_backend_fused_op(backend, rng, monkeypatch):
    calls = []
    fwd, bwd = type(backend).softmax_xent_forward, type(backend).softmax_xent_backward
    monkeypatch.setattr(type(backend), "softmax_xent_forward",
                        lambda self, *a: calls.append("forward") or fwd(self, *a))
    monkeypatch.setattr(type(backend), "softmax_xent_backward",
                        lambda self, *a: calls.append("backward") or bwd(self, *a))
    t = leaf(rng.standard_normal((2, 3, 5)))
    L.cross_entropy(t, rng.integers(0, 3, (2, 5))).backward()
    assert calls == ["forward", "backward"]


def test_cross_entropy_is_nll_of_log_softmax(backend, rng):
    x = rng.standard_normal((5, 3))
    target = rng.integers(0, 3, 5)
    a = L.cross_entropy(leaf(x), target, reduction="none")
    b = L.nll_loss(A.log_softmax(leaf(x), 1), target, reduction="none")
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_stable_for_huge_logits(backend, dtype, smoothing):
    x = gn.tensor(np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0], [5.0, 5.0, 5.0]], dtype=dtype),
                  requires_grad=True)
    loss = L.cross_entropy(x, np.array([0, 0, 2]), reduction="none", label_smoothing=smoothing)
    loss.sum().backward()
    assert np.isfinite(to_numpy(loss)).all() and np.isfinite(to_numpy(x.grad)).all()
    expect = ref_cross_entropy("none", to_numpy(x), np.array([0, 0, 2]), label_smoothing=smoothing)
    np.testing.assert_allclose(to_numpy(loss), expect, rtol=1e-6, atol=1e-6)


def test_soft_cross_entropy_stable_for_huge_logits(backend):
    x = leaf([[1000.0, -1000.0, 0.0]])
    loss = L.cross_entropy(x, np.array([[0.2, 0.3, 0.5]]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(to_numpy(x.grad)).all()
    np.testing.assert_allclose(loss.item(), 0.3 * 2000 + 0.5 * 1000)


def test_cross_entropy_all_ignored_mean_is_nan_like_torch(backend):
    loss = L.cross_entropy(leaf(np.zeros((2, 3))), np.array([-100, -100]))
    assert np.isnan(loss.item())


@pytest.mark.parametrize("fn, shape, target, value, pos", [
    (L.cross_entropy, (3, 4), [0, 7, 1], 7, (1,)),
    (L.cross_entropy, (3, 4), [0, 1, -1], -1, (2,)),
    (L.cross_entropy, (2, 4, 3), [[0, 1, 2], [3, 4, 0]], 4, (1, 1)),
    (L.nll_loss, (3, 4), [4, 0, 0], 4, (0,)),
    (L.multi_margin_loss, (2, 3), [0, 3], 3, (1,)),
])
def test_bad_labels_name_value_position_and_range(backend, fn, shape, target, value, pos):
    n_classes = shape[1]
    with pytest.raises(IndexError, match=rf"target value {value} at position \({pos[0]},"
                                         rf"{' ' + str(pos[1]) if len(pos) > 1 else ''}\).*"
                                         rf"\[0, {n_classes}\)"):
        fn(leaf(np.zeros(shape)), np.array(target))


def test_ignore_index_is_not_a_bad_label(backend):
    L.cross_entropy(leaf(np.zeros((2, 3))), np.array([1, 5]), ignore_index=5)
    with pytest.raises(IndexError, match="ignore_index=5"):
        L.cross_entropy(leaf(np.zeros((2, 3))), np.array([1, 6]), ignore_index=5)


@pytest.mark.parametrize("shape, tshape", [((4, 3), (5,)), ((4, 3), (4, 1)), ((2, 3, 5), (2, 3)), ((3,), (1,))])
def test_cross_entropy_target_shape_mismatch_names_both_shapes(backend, shape, tshape):
    with pytest.raises(ValueError, match=rf"target shape {tuple(tshape)}.*input shape {tuple(shape)}".replace(
            "(", r"\(").replace(")", r"\)")):
        L.cross_entropy(leaf(np.zeros(shape)), np.zeros(tshape, dtype=np.int64))


def test_cross_entropy_float_target_of_the_wrong_shape_explains_both_target_kinds(backend):
    with pytest.raises(ValueError, match=r"\(4,\).*\(4, 3\).*must be integers"):
        L.cross_entropy(leaf(np.zeros((4, 3))), np.zeros(4))


def test_cross_entropy_checks_label_smoothing_and_weight(backend):
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="label_smoothing"):
        L.cross_entropy(x, np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"one value per class, shape \(3,\)"):
        L.cross_entropy(x, np.array([0, 1]), weight=np.ones(4))


def test_cross_entropy_accepts_lists_and_tensor_targets(backend, rng):
    x = rng.standard_normal((3, 4))
    a = L.cross_entropy(leaf(x), [0, 3, 1]).item()
    b = L.cross_entropy(leaf(x), gn.tensor(np.array([0, 3, 1]))).item()
    assert a == b == pytest.approx(ref_cross_entropy("mean", x, np.array([0, 3, 1])), rel=1e-12)


# ---------------------------------------------------------------------------------------------- binary
def test_bce_with_logits_stable_at_100(backend):
    x = leaf([100.0, -100.0, 100.0, -100.0, 0.0])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    loss = L.binary_cross_entropy_with_logits(x, y, reduction="none")
    loss.sum().backward()
    np.testing.assert_allclose(to_numpy(loss), [0.0, 0.0, 100.0, 100.0, np.log(2)], atol=1e-12)
    np.testing.assert_allclose(to_numpy(x.grad), [0.0, 0.0, 1.0, -1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_pos_weight_finite_at_extremes(backend, dtype):
    x = gn.tensor(np.array([1000.0, -1000.0], dtype=dtype), requires_grad=True)
    loss = L.binary_cross_entropy_with_logits(x, np.array([0.0, 1.0]), pos_weight=np.array([3.0, 3.0]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(to_numpy(x.grad)).all()
    np.testing.assert_allclose(loss.item(), (1000 + 3 * 1000) / 2, rtol=1e-6)


def test_bce_clamps_the_log_at_minus_100_like_torch(backend):
    x = leaf([0.0, 1.0, 0.0, 1.0])
    loss = L.binary_cross_entropy(x, np.array([1.0, 0.0, 0.0, 1.0]), reduction="none")
    np.testing.assert_array_equal(to_numpy(loss), [100.0, 100.0, 0.0, 0.0])
    loss.sum().backward()
    assert np.isfinite(to_numpy(x.grad)).all()


def test_bce_rejects_inputs_outside_0_1_and_suggests_logits(backend):
    # on the GPU the range check runs on the device and raises at the next host read (.item() here)
    with pytest.raises(ValueError, match=r"\[-0.5, 2.0\].*binary_cross_entropy_with_logits"):
        L.binary_cross_entropy(leaf([-0.5, 2.0]), np.array([0.0, 1.0])).item()


def test_pos_weight_must_broadcast_to_the_input(backend):
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\).*input shape \(2, 4\)"):
        L.binary_cross_entropy_with_logits(leaf(np.zeros((2, 4))), np.zeros((2, 4)), pos_weight=np.ones(3))


# ---------------------------------------------------------------------------------------------- regression
@pytest.mark.parametrize("fn", [L.mse_loss, L.l1_loss, L.rmse_loss, L.binary_cross_entropy,
                                L.binary_cross_entropy_with_logits])
def test_shape_mismatch_names_both_shapes(backend, fn):
    with pytest.raises(ValueError, match=r"target shape \(3,\) does not match input shape \(3, 1\)"):
        fn(leaf(np.full((3, 1), 0.5)), np.full(3, 0.5))


def test_float64_numpy_target_keeps_a_float32_loss(backend, rng):
    x = gn.tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    loss = L.mse_loss(x, rng.standard_normal((3, 2)))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32


def test_mse_weight_must_have_the_input_shape(backend):
    with pytest.raises(ValueError, match=r"weight shape \(3,\) must equal the input shape \(2, 3\)"):
        L.mse_loss(leaf(np.zeros((2, 3))), np.zeros((2, 3)), weight=np.ones(3))


def test_rmse_gradient_is_zero_where_the_error_is_zero(backend):
    for reduction in ["mean", "sum", "none"]:
        x = leaf([1.0, 2.0])
        loss = L.rmse_loss(x, np.array([1.0, 2.0]), reduction=reduction)
        loss.sum().backward()
        np.testing.assert_array_equal(to_numpy(loss), 0.0)
        np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 0.0])


def test_rmse_reduction_applies_before_the_root(backend):
    x, y = leaf([3.0, 0.0]), np.array([0.0, 4.0])
    assert L.rmse_loss(x, y).item() == pytest.approx(np.sqrt(12.5))
    assert L.rmse_loss(x, y, reduction="sum").item() == pytest.approx(5.0)
    np.testing.assert_array_equal(to_numpy(L.rmse_loss(x, y, reduction="none")), [3.0, 4.0])


@pytest.mark.torch
def test_gaussian_nll_clamped_var_gradient_matches_torch(backend):
    torch = torch_or_skip()
    x, y, v = np.array([0.3, -1.0, 2.0]), np.array([0.0, 0.5, 1.0]), np.array([0.01, 0.5, 0.0])
    tv = leaf(v)
    loss = L.gaussian_nll_loss(leaf(x), y, tv, eps=0.1)
    loss.backward()
    ttv = torch.tensor(v, requires_grad=True)
    tloss = torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(y), ttv, eps=0.1)
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(tv.grad), ttv.grad.numpy(), rtol=1e-12)


@pytest.mark.torch
def test_gaussian_nll_float_var_matches_torch(backend):
    torch = torch_or_skip()
    x, y = np.array([[0.3, -1.0], [2.0, 0.1]]), np.array([[0.0, 0.5], [1.0, 0.1]])
    expect = torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(y), 0.7).item()
    assert L.gaussian_nll_loss(leaf(x), y, 0.7).item() == pytest.approx(expect, rel=1e-12)


def test_gaussian_nll_rejects_negative_and_misshapen_var(backend):
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="negative"):  # a device-side check on the GPU: raised at .item()
        L.gaussian_nll_loss(x, np.zeros((2, 3)), np.array([[1.0, -1.0, 1.0]] * 2)).item()
    with pytest.raises(ValueError, match="negative"):
        L.gaussian_nll_loss(x, np.zeros((2, 3)), -1.0)
    with pytest.raises(ValueError, match=r"var of shape \(3,\) does not fit input shape \(2, 3\)"):
        L.gaussian_nll_loss(x, np.zeros((2, 3)), np.ones(3))


def test_multi_margin_rejects_other_p(backend):
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        L.multi_margin_loss(leaf(np.zeros((2, 3))), np.array([0, 1]), p=3)


def test_integer_class_targets_are_required(backend):
    with pytest.raises(TypeError, match="must be integers"):
        L.nll_loss(leaf(np.zeros((2, 3))), np.array([0.0, 1.0]))


def test_losses_reject_integer_inputs(backend):
    with pytest.raises(TypeError, match="floating"):
        L.mse_loss(gn.tensor(np.array([1, 2])), np.array([1, 2]))


def test_all_names_are_exported():
    for name in L.__all__:
        assert callable(getattr(L, name))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_masked_and_unmasked_class_paths_agree(backend, rng, weighted, smoothing):
    """Where the labels are on the device, the wrappers cannot know that none is ignored and take the masked
    path; it must give what the unmasked path gives."""
    x, target = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    w = backend.asarray(rng.uniform(0.5, 2, 4)) if weighted else None
    t = backend.asarray(target)
    for fn, kw in [(L.SoftmaxCrossEntropy, {"label_smoothing": smoothing}), (L.NLL, {})]:
        grads = []
        for masked in (False, True):
            xt = leaf(x)
            loss = fn.apply(xt, t, w, reduction="mean", ignore_index=-100, masked=masked, **kw)
            loss.backward()
            grads.append((loss.item(), to_numpy(xt.grad)))
        assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-14)
        np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-14, atol=1e-16)


# ---------------------------------------------------------------------------------------------- smooth l1, huber, kl
@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", [("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
                                         ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {}),
                                         ("huber_loss", {"delta": 0.3})])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_robust_losses_match_torch(backend, name, kwargs, reduction):
    torch = torch_or_skip()
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((5, 3)) * 2, rng.standard_normal((5, 3))
    x, y = leaf(a), leaf(b)
    out = getattr(L, name)(x, y, reduction=reduction, **kwargs)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    tout = getattr(torch.nn.functional, name)(tx, ty, reduction=reduction, **kwargs)
    np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(tout.shape)
    out.backward(gn.tensor(g, dtype=np.float64))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(to_numpy(y.grad), ty.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.torch
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(backend, reduction, log_target):
    torch = torch_or_skip()
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((4, 6))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    q = rng.dirichlet(np.ones(6), 4)
    q[0, 2] = 0.0                                      # a zero target probability: contributes 0
    t = np.log(np.where(q > 0, q, 1e-12)) if log_target else q
    x, y = leaf(logp), leaf(t)
    out = L.kl_div(x, y, reduction=reduction, log_target=log_target)
    tx, ty = torch.tensor(logp, requires_grad=True), torch.tensor(t, requires_grad=True)
    tout = torch.nn.functional.kl_div(tx, ty, reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=1e-12, atol=1e-15)
    g = rng.standard_normal(tout.shape)
    out.backward(gn.tensor(g, dtype=np.float64))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    mask = q > 0                                        # torch's target gradient at t = 0 is -inf/NaN there
    np.testing.assert_allclose(to_numpy(y.grad)[mask], ty.grad.numpy()[mask], rtol=1e-12, atol=1e-15)
    mod = gn.nn.KLDivLoss(reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(to_numpy(mod(x, y)), tout.detach().numpy(), rtol=1e-12, atol=1e-15)
