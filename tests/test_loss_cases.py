"""Losses (gpunet.functional.loss), case by case: the fused cross-entropy path and its numerical stability, the
binary, regression and robust losses' edge cases against PyTorch where installed, and the error messages (every
loss with every reduction is in test_loss.py)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip

import gpunet as gn
from gpunet.functional import activation as A
from gpunet.functional import loss as L
from test_loss import _log_softmax, leaf, ref_cross_entropy  # the NumPy references


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
