"""Losses (gpunet.functional.loss): every loss with every reduction against a NumPy float64 reference, backward by
gn.gradcheck in float64, forward and gradients against PyTorch (float64) where installed. The references live
here; the case-by-case tests (fused cross-entropy, stability, error messages) are in test_loss_cases.py."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip

import gpunet as gn
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
