"""Class-dimension losses: cross_entropy (class-index and class-probability targets), nll_loss and
multi_margin_loss, each with its :class:`~gpunet.autograd.Function` (re-exported by :mod:`gpunet.functional.loss`).

The integer-target cross-entropy runs as one fused op on (rows, classes) logits through
``backend.softmax_xent_forward`` / ``softmax_xent_backward``; (N, C, d1, ...) inputs are moved to that layout.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ._loss_common import (Reduction, _as_rows, _check_float_input, _check_reduction, _class_weight, _float_target,
                           _index_target, _reduce, _reduce_grad, _times, _unrows, _weights_of_rows)
from .activation import _log_softmax

__all__ = ["cross_entropy", "nll_loss", "multi_margin_loss"]


# ====================================================================== Functions: classification
class SoftmaxCrossEntropy(Function):
    """Fused softmax + cross-entropy over the rows of (N, C) logits with class-index targets.

    Per row: ℓ = (1 − ε) · w_t · (lse − z_t) + (ε / C) · Σ_c w_c · (lse − z_c), lse = log Σ_c e^{z_c}, ε the
    label smoothing, w the class weights (1 without). Backward: (1 − ε) · w_t · (p − onehot(t)) +
    (ε / C) · (Σ_c w_c · p − w), scaled by the row's upstream gradient; without weights and smoothing this is the
    simple (p − onehot)/N of the mean.
    """

    arg_names = ("input", "target", "weight")

    def forward(self, xp, z, target, weight, reduction="mean", ignore_index=-100, label_smoothing=0.0,
                masked=True):
        n, c = z.shape
        safe, row_w, keep, denom = _weights_of_rows(xp, target, weight, ignore_index, z.dtype, masked)
        rows, self.probs = self.backend.softmax_xent_forward(z, safe)
        per = _times(rows, row_w)
        eps = label_smoothing
        if eps:
            w_sum = c if weight is None else weight.sum()
            diff = z[xp.arange(n), safe][:, None] - z  # lse − z_c = rows + (z_t − z_c)
            cross = diff.sum(axis=1) if weight is None else diff @ weight
            per = (1 - eps) * per + (eps / c) * _times(w_sum * rows + cross, keep)
            self.w_sum = w_sum
        self.safe, self.row_w, self.keep, self.weight = safe, row_w, keep, weight
        self.reduction, self.eps, self.denom = reduction, eps, denom
        return _reduce(per, reduction, denom)

    def backward(self, xp, g):
        r = _reduce_grad(g, self.reduction, self.denom)
        eps, probs = self.eps, self.probs
        n = probs.shape[0]
        coef = _times(r, self.row_w)
        if eps:
            coef = coef * (1 - eps)
        d = self.backend.softmax_xent_backward(probs, self.safe, coef)
        if eps:
            k = xp.broadcast_to(_times((eps / probs.shape[1]) * r, self.keep), (n,))[:, None]
            if self.weight is None:
                d += k * (probs.shape[1] * probs - 1)
            else:
                d += k * (self.w_sum * probs - self.weight)
        return d, None, None


class NLL(Function):
    """ℓ = −w_t · x_t per row of (N, C) log-probabilities; 'mean' divides by Σ w_t over counted rows."""

    arg_names = ("input", "target", "weight")

    def forward(self, xp, logp, target, weight, reduction="mean", ignore_index=-100, masked=True):
        safe, row_w, _, denom = _weights_of_rows(xp, target, weight, ignore_index, logp.dtype, masked)
        self.rows = xp.arange(logp.shape[0])
        per = _times(-logp[self.rows, safe], row_w)
        self.shape, self.dtype, self.safe, self.row_w = logp.shape, logp.dtype, safe, row_w
        self.reduction, self.denom = reduction, denom
        return _reduce(per, reduction, denom)

    def backward(self, xp, g):
        coef = _times(_reduce_grad(g, self.reduction, self.denom), self.row_w)
        d = xp.zeros(self.shape, dtype=self.dtype)
        d[self.rows, self.safe] = -xp.broadcast_to(coef, (self.shape[0],))
        return d, None, None


class SoftTargetCrossEntropy(Function):
    """Cross-entropy against class probabilities q along ``axis``: ℓ = −Σ_c w_c · q_c · log_softmax(x)_c.

    dℓ/dx = (Σ_c w_c q_c) · softmax(x) − w ⊙ q; dℓ/dq = −w ⊙ log_softmax(x). 'mean' divides by the number of
    loss values (numel / C), as torch.
    """

    arg_names = ("input", "target", "weight")

    def forward(self, xp, x, q, weight, axis=1, reduction="mean"):
        logp = _log_softmax(xp, x, axis)
        w = None
        if weight is not None:
            shape = [1] * x.ndim
            shape[axis] = weight.shape[0]
            w = weight.reshape(shape)
        wq = q if w is None else q * w
        loss = -(wq * logp).sum(axis=axis)
        self.logp, self.wq, self.w, self.axis = logp, wq, w, axis
        self.reduction, self.denom = reduction, loss.size
        return _reduce(loss, reduction)

    def backward(self, xp, g):
        r = _reduce_grad(g, self.reduction, self.denom)
        if self.reduction == "none":
            r = xp.expand_dims(r, self.axis)
        nx, nq, _ = self.needs_input_grad
        dx = dq = None
        if nx:
            dx = r * (self.wq.sum(axis=self.axis, keepdims=True) * xp.exp(self.logp) - self.wq)
        if nq:
            dq = -r * self.logp if self.w is None else -r * self.logp * self.w
        return dx, dq, None


class MultiMargin(Function):
    """Multi-class hinge per row of (N, C) scores: ℓ = (1/C) · Σ_{j≠t} w_t · max(0, margin − x_t + x_j)^p.

    dℓ/dx_j = (w_t / C) · p · h_j^(p−1) for active j ≠ t (h_j > 0); dℓ/dx_t = −Σ_j dℓ/dx_j.
    """

    arg_names = ("input", "target", "weight")

    def forward(self, xp, x, target, weight, p=1, margin=1.0, reduction="mean"):
        n, c = x.shape
        rows = xp.arange(n)
        h = margin - x[rows, target][:, None] + x
        h[rows, target] = 0  # the target class itself does not count
        h = xp.maximum(h, 0)
        loss = (h if p == 1 else h * h).sum(axis=1) / c
        wt = None
        if weight is not None:
            wt = weight[target]
            loss = loss * wt
        self.h, self.rows, self.target, self.wt, self.p = h, rows, target, wt, p
        self.reduction, self.denom = reduction, n
        return _reduce(loss, reduction)

    def backward(self, xp, g):
        r = _reduce_grad(g, self.reduction, self.denom)
        h = self.h
        c = h.shape[1]
        coef = r / c if self.wt is None else r * self.wt / c
        coef = xp.broadcast_to(coef, (h.shape[0],))[:, None]
        d = coef * (h > 0) if self.p == 1 else coef * (2 * h)
        d[self.rows, self.target] = -d.sum(axis=1)
        return d, None, None


# ====================================================================== public functions: classification
def cross_entropy(input, target, weight=None, *, ignore_index: int = -100, reduction: Reduction = "mean",
                  label_smoothing: float = 0.0):
    """Cross-entropy between ``softmax(input)`` along dim 1 (dim 0 for a 1-D input) and ``target``.

    input: logits (N, C), (N, C, d1, ...) or (C,). target: class indices (N,), (N, d1, ...) or (), or class
    probabilities shaped like the input. For an index target t with class weights w (1 without) and label
    smoothing ε:

        ℓ = (1 − ε) · w_t · (−log p_t) + (ε / C) · Σ_c w_c · (−log p_c),   p = softmax(input)

    computed as log Σ e^z − z_t, stable for logits of any size. 'mean' divides by Σ w_t over the entries not equal
    to ``ignore_index`` (their count without weights); ignored entries give 0. For probability targets q:
    ℓ = −Σ_c w_c · q'_c · log p_c with q' = (1 − ε) · q + ε / C, and 'mean' divides by N · d1 · ....
    """
    op = "cross_entropy"
    _check_reduction(reduction, op)
    _check_float_input(input, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d input")
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    w = _class_weight(weight, input, c, op)
    if _is_float(target):
        return _soft_cross_entropy(input, target, w, reduction, label_smoothing, c, op)
    t, masked = _index_target(target, input, c, op, ignore_index)
    x2, t1, out_shape = _as_rows(input, t, op)
    loss = SoftmaxCrossEntropy.apply(x2, t1, w, reduction=reduction, ignore_index=int(ignore_index),
                                     label_smoothing=float(label_smoothing), masked=masked)
    return _unrows(loss, out_shape, reduction)


def _is_float(a) -> bool:
    return hasattr(a, "dtype") and np.dtype(a.dtype).kind == "f" or (
        isinstance(a, (list, tuple)) and np.asarray(a).dtype.kind == "f")


def _soft_cross_entropy(input, target, w, reduction, eps, c, op):
    target = _float_target(target, input, op)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: floating target of shape {tuple(target.shape)} does not match input shape "
                         f"{tuple(input.shape)}: class-probability targets must have the input's shape, and "
                         f"class-index targets must be integers (target.astype('int64'))")
    if eps:
        target = target * (1 - eps) + eps / c
    axis = 1 if input.ndim > 1 else 0
    return SoftTargetCrossEntropy.apply(input, target, w, axis=axis, reduction=reduction)


def nll_loss(input, target, weight=None, *, ignore_index: int = -100, reduction: Reduction = "mean"):
    """Negative log-likelihood on log-probabilities (e.g. from :func:`log_softmax`): ℓ = −w_t · input_t.

    Shapes as :func:`cross_entropy` with class-index targets; 'mean' divides by Σ w_t over entries not equal to
    ``ignore_index``. ``cross_entropy(x, t) == nll_loss(log_softmax(x, 1), t)``.
    """
    op = "nll_loss"
    _check_reduction(reduction, op)
    _check_float_input(input, op)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d input")
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    w = _class_weight(weight, input, c, op)
    t, masked = _index_target(target, input, c, op, ignore_index)
    x2, t1, out_shape = _as_rows(input, t, op)
    loss = NLL.apply(x2, t1, w, reduction=reduction, ignore_index=int(ignore_index), masked=masked)
    return _unrows(loss, out_shape, reduction)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None, *,
                      reduction: Reduction = "mean"):
    """Multi-class hinge (SVM) loss on scores (N, C) (or (C,)) with class-index targets (N,) (or ()):

    ℓ = (1/C) · Σ_{j ≠ t} w_t · max(0, margin − x_t + x_j)^p,  p ∈ {1, 2}; 'mean' divides by N.
    """
    op = "multi_margin_loss"
    _check_reduction(reduction, op)
    _check_float_input(input, op)
    if p not in (1, 2):
        raise ValueError(f"{op}: p must be 1 or 2, got {p!r}")
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be (N, C) or (C,), got shape {tuple(input.shape)}")
    c = input.shape[-1]
    w = _class_weight(weight, input, c, op)
    t, _ = _index_target(target, input, c, op)
    x2, t1, out_shape = _as_rows(input, t, op)
    loss = MultiMargin.apply(x2, t1, w, p=int(p), margin=float(margin), reduction=reduction)
    return _unrows(loss, out_shape, reduction)
