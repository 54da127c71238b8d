"""Elementwise losses, target shaped like the input: mse, l1, rmse, gaussian_nll, binary cross-entropy on
probabilities and on logits, each with its :class:`~gpunet.autograd.Function` (re-exported by
:mod:`gpunet.functional.loss`).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import backend_of
from . import _act_math as am
from ._loss_common import (Reduction, _check_float_input, _check_reduction, _const, _data, _float_target,
                           _on_device_of, _reduce, _reduce_grad, _same_shape)
from .math import reshape

__all__ = ["l1_loss", "mse_loss", "rmse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "gaussian_nll_loss"]


# ====================================================================== Functions: regression
class _Pointwise(Function):
    """Elementwise loss ℓ(x, y), times an optional constant weight w, then reduced.

    Subclasses implement ``loss(xp, x, y)`` (saving what ``grads`` needs) and ``grads(xp, g, need_x, need_y)``
    returning dℓ/dx · g and dℓ/dy · g. ``mean_by_weight`` selects 'mean' = Σ w·ℓ / Σ w (mse/l1) instead of
    Σ w·ℓ / numel (BCE).
    """

    arg_names = ("input", "target", "weight")
    mean_by_weight = False

    def forward(self, xp, x, y, w, reduction="mean", **params):
        self.params = params
        loss = self.loss(xp, x, y)
        if w is not None:
            loss = loss * w
        self.w, self.reduction = w, reduction
        self.denom = w.sum() if (w is not None and self.mean_by_weight) else loss.size
        return _reduce(loss, reduction, self.denom)

    def backward(self, xp, g):
        g = _reduce_grad(g, self.reduction, self.denom)
        if self.w is not None:
            g = g * self.w
        nx, ny = self.needs_input_grad[:2]
        dx, dy = self.grads(xp, g, nx, ny)
        return dx, dy, None


class MSE(_Pointwise):
    """ℓ = (x − y)²; dℓ/dx = 2(x − y) = −dℓ/dy: mse_loss with a ``weight`` (without one, :class:`FusedMSE`)."""

    mean_by_weight = True

    def loss(self, xp, x, y):
        self.diff = x - y
        return self.diff * self.diff

    def grads(self, xp, g, nx, ny):
        dx = 2 * self.diff * g
        return (dx if nx else None), (-dx if ny else None)


class FusedMSE(Function):
    """ℓ = mean/sum of (x − y)² (or elementwise), x and y broadcasting: ONE backend pass each way
    (:meth:`~gpunet.backend.base.Backend.mse_forward`, ``mse_backward``: dℓ/dx = 2(x − y) · g / n = −dℓ/dy), and
    nothing saved but the inputs. When one input of a reduced loss wants a gradient, the backend may compute
    the gradient for an upstream 1 in forward's pass (``mse_forward_grad``); backward then returns it when g is 1
    (``loss.backward()``), which saves the backward's pass over x, y and the gradient (the LayerNorm benchmark's
    step: 5.85-6.10 -> 4.83 ms). A second backward of a retained graph recomputes it. With a ``weight``,
    :class:`MSE` runs instead."""

    arg_names = ("input", "target")

    def forward(self, xp, x, y, reduction="mean"):
        self.x, self.y, self.reduction = x, y, reduction
        self.n = x.size if x.shape == y.shape else math.prod(np.broadcast_shapes(x.shape, y.shape))
        self.pre = None
        nx, ny = self.needs_input_grad
        if reduction != "none" and nx != ny:
            # one input wants a gradient: the backend may write the one for an upstream 1 in forward's pass
            loss, self.pre = self.backend.mse_forward_grad(x, y, reduction, self.n, nx)
            return loss
        return self.backend.mse_forward(x, y, reduction)

    def backward(self, xp, g):
        nx, ny = self.needs_input_grad
        pre, self.pre = self.pre, None  # handed over once: a second backward (retain_graph) recomputes it
        if pre is not None and float(g) == 1.0:
            return (pre, None) if nx else (None, pre)
        dx, dy = self.backend.mse_backward(self.x, self.y, g, self.reduction, self.n, nx, ny)
        return dx, dy

    def backward_graph(self, g):
        """The backward recorded (for ``create_graph=True``): the forward rebuilt from elementary ops."""
        from ..autograd._graph_backward import through_composite
        from ..autograd._graph_backward_nn import _reduced

        reduction, n = self.reduction, self.n

        def build(x, y):
            d = x - y
            return _reduced(d * d, reduction, n)
        return through_composite(self, g, build)


class L1(_Pointwise):
    """ℓ = |x − y|; dℓ/dx = sign(x − y) (0 at 0) = −dℓ/dy."""

    mean_by_weight = True

    def loss(self, xp, x, y):
        diff = x - y
        self.sign = xp.sign(diff)
        return xp.abs(diff)

    def grads(self, xp, g, nx, ny):
        dx = self.sign * g
        return (dx if nx else None), (-dx if ny else None)


class BCE(_Pointwise):
    """ℓ = −[y · max(log x, −100) + (1 − y) · max(log(1 − x), −100)].

    dℓ/dx = (x − y) / max(x(1 − x), 1e-12) (as torch); dℓ/dy = max(log(1 − x), −100) − max(log x, −100).
    """

    def loss(self, xp, x, y):
        with np.errstate(divide="ignore"):
            self.log_x = xp.maximum(xp.log(x), -100)
            self.log_1mx = xp.maximum(xp.log1p(-x), -100)
        self.x, self.y = x, y
        return -(y * self.log_x + (1 - y) * self.log_1mx)

    def grads(self, xp, g, nx, ny):
        x = self.x
        dx = g * (x - self.y) / xp.maximum(x * (1 - x), 1e-12) if nx else None
        dy = g * (self.log_1mx - self.log_x) if ny else None
        return dx, dy


class BCEWithLogits(_Pointwise):
    """ℓ = (1 − y) · x + lw · softplus(−x), lw = 1 + (pos_weight − 1) · y (lw = 1 without pos_weight), with
    softplus(−x) = max(−x, 0) + log(1 + e^−|x|): stable for logits of any size.

    dℓ/dx = (1 − y) − lw · σ(−x) (= σ(x) − y without pos_weight); dℓ/dy = −x + (pos_weight − 1) · softplus(−x).
    """

    def loss(self, xp, x, y):
        pw = self.params.get("pos_weight")
        sp = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        self.x, self.y, self.pw, self.sp = x, y, pw, sp
        if pw is None:
            return (1 - y) * x + sp
        return (1 - y) * x + (1 + (pw - 1) * y) * sp

    def grads(self, xp, g, nx, ny):
        x, y, pw = self.x, self.y, self.pw
        dx = dy = None
        if nx:
            if pw is None:
                dx = g * (am.sigmoid(xp, x) - y)
            else:
                dx = g * ((1 - y) - (1 + (pw - 1) * y) * am.sigmoid(xp, -x))
        if ny:
            dy = g * (-x if pw is None else (pw - 1) * self.sp - x)
        return dx, dy


class RMSE(Function):
    """r = √(Σ(x − y)² / k) with k = numel ('mean') or 1 ('sum'); dr/dx = (x − y) / (k · r), taken as 0 where
    r = 0 (all of x equals y: the subgradient, as |·| at 0)."""

    arg_names = ("input", "target")

    def forward(self, xp, x, y, reduction="mean"):
        self.diff = diff = x - y
        self.k = diff.size if reduction == "mean" else 1
        with np.errstate(divide="ignore", invalid="ignore"):
            self.r = xp.sqrt((diff * diff).sum() / self.k)
        return self.r

    def backward(self, xp, g):
        r = self.r
        scale = xp.where(r > 0, g / (self.k * xp.where(r > 0, r, 1)), 0)
        dx = self.diff * scale
        nx, ny = self.needs_input_grad
        return (dx if nx else None), (-dx if ny else None)


class GaussianNLL(Function):
    """ℓ = ½ · (log v + (x − y)² / v) (+ ½ log 2π if full), v = max(var, eps) with the clamp invisible to
    autograd (as torch: the gradient at v goes to var unchanged). dℓ/dx = (x − y)/v = −dℓ/dy,
    dℓ/dvar = ½ · (1/v − (x − y)²/v²)."""

    arg_names = ("input", "target", "var")

    def forward(self, xp, x, y, var, full=False, eps=1e-6, reduction="mean"):
        v = xp.maximum(var, eps).astype(x.dtype, copy=False)
        d = x - y
        loss = 0.5 * (xp.log(v) + d * d / v)
        if full:
            loss = loss + 0.5 * math.log(2 * math.pi)
        self.v, self.d, self.reduction, self.denom = v, d, reduction, loss.size
        return _reduce(loss, reduction)

    def backward(self, xp, g):
        g = _reduce_grad(g, self.reduction, self.denom)
        nx, ny, nv = self.needs_input_grad
        v, d = self.v, self.d
        dx = g * d / v if (nx or ny) else None
        dv = g * 0.5 * (1 / v - d * d / (v * v)) if nv else None
        return (dx if nx else None), (-dx if ny else None), dv


# ====================================================================== public functions: regression
def mse_loss(input, target, *, reduction: Reduction = "mean", weight=None):
    """Mean squared error: ℓᵢ = wᵢ · (xᵢ − yᵢ)²; 'mean' = Σℓ / numel (Σℓ / Σw with ``weight``), 'sum' = Σℓ.

    ``weight`` (optional, shape of the input) rescales each element, as torch. Without a weight, ``input`` and
    ``target`` may broadcast as in torch (with torch's warning) when the result keeps the shape of one of them;
    shapes that would broadcast to a third shape (e.g. (N, 1) against (N,)) raise.
    """
    op = "mse_loss"
    if weight is not None:
        return _pointwise(MSE, op, input, target, reduction, weight, exact_weight=True)
    _check_reduction(reduction, op)
    _check_float_input(input, op)
    target = _float_target(target, input, op)
    if tuple(input.shape) != tuple(target.shape):
        _broadcast_target(input, target, op)
    return FusedMSE.apply(input, target, reduction=reduction)


def _broadcast_target(input, target, op):
    """Warn as torch when ``target`` broadcasts against ``input`` to the shape of one of them; raise otherwise."""
    xs, ys = tuple(input.shape), tuple(target.shape)
    try:
        out = np.broadcast_shapes(xs, ys)
    except ValueError:
        out = None
    if out not in (xs, ys):
        try:
            _same_shape(input, target, op)
        except ValueError as e:
            more = "" if out is None else (f" (they would broadcast to {out}, the shape of neither, which is "
                                           f"almost always a mistake)")
            raise ValueError(f"{e}{more}") from None
    warnings.warn(f"Using a target size ({ys}) that is different to the input size ({xs}). This will likely lead "
                  f"to incorrect results due to broadcasting. Please ensure they have the same size.",
                  UserWarning, stacklevel=3)


def l1_loss(input, target, *, reduction: Reduction = "mean", weight=None):
    """Mean absolute error: ℓᵢ = wᵢ · |xᵢ − yᵢ|; 'mean' = Σℓ / numel (Σℓ / Σw with ``weight``), 'sum' = Σℓ."""
    return _pointwise(L1, "l1_loss", input, target, reduction, weight, exact_weight=True)


def rmse_loss(input, target, *, reduction: Reduction = "mean"):
    """Root mean squared error. The reduction applies before the square root:

    'mean': √(Σ(x − y)² / numel); 'sum': √(Σ(x − y)²) (the Euclidean norm of x − y); 'none': |x − y|
    elementwise (the square root of each squared error). Where the root is 0 the gradient is taken as 0.
    """
    op = "rmse_loss"
    _check_reduction(reduction, op)
    if reduction == "none":
        return l1_loss(input, target, reduction="none")
    _check_float_input(input, op)
    target = _float_target(target, input, op)
    _same_shape(input, target, op)
    return RMSE.apply(input, target, reduction=reduction)


def _pointwise(cls, op, input, target, reduction, weight, exact_weight=False, **params):
    _check_reduction(reduction, op)
    _check_float_input(input, op)
    target = _float_target(target, input, op)
    _same_shape(input, target, op)
    w = _const(weight, input, "weight", op, shape=input.shape)
    if exact_weight and w is not None and tuple(w.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weight shape {tuple(w.shape)} must equal the input shape {tuple(input.shape)}")
    return cls.apply(input, target, w, reduction=reduction, **params)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: Reduction = "mean"):
    """Gaussian negative log-likelihood of ``target`` under N(input, var):

    ℓ = ½ · (log(max(var, eps)) + (input − target)² / max(var, eps)) (+ ½ · log(2π) when ``full``).
    The clamp at ``eps`` is invisible to autograd, as torch. ``var`` has the input's shape, or one dimension
    fewer (one variance per row: homoscedastic), or the input's shape with one dimension of size 1, or is a
    float. Entries of ``var`` must be ≥ 0. ``input`` and ``target`` broadcast.
    """
    op = "gaussian_nll_loss"
    _check_reduction(reduction, op)
    _check_float_input(input, op)
    target = _float_target(target, input, op)
    try:
        np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
    except ValueError:
        raise ValueError(f"{op}: target shape {tuple(target.shape)} does not broadcast with input shape "
                         f"{tuple(input.shape)}") from None
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError(f"{op}: var is {var}, which is negative; the variance must be >= 0")
        var = _on_device_of(input, np.asarray(var), input.dtype)
    else:
        if not isinstance(var, Tensor):
            var = _on_device_of(input, var, input.dtype)
        var = _var_shape(var, input.shape, op)
        vd = _data(var)
        if vd.size:
            be = backend_of((vd,))

            def report():
                raise ValueError(f"{op}: var has negative entries (min {float(vd.min())}); the variance must be "
                                 f">= 0 (predict it through exp(...) or softplus(...)){be.deferred_note}")
            be.check_later((vd < 0).any(), report)
    return GaussianNLL.apply(input, target, var, full=bool(full), eps=float(eps), reduction=reduction)


def _var_shape(var, ishape, op):
    vshape, ishape = tuple(var.shape), tuple(ishape)
    if vshape == ishape:
        return var
    if vshape == ishape[:-1]:
        return reshape(var, vshape + (1,))
    if len(vshape) == len(ishape) and sum(v for i, v in zip(ishape, vshape, strict=True) if i != v) == 1:
        return var
    raise ValueError(f"{op}: var of shape {vshape} does not fit input shape {ishape}: give the input's shape, "
                     f"the input's shape without its last dimension {ishape[:-1]}, or the input's shape with "
                     f"one dimension set to 1")


def binary_cross_entropy(input, target, weight=None, *, reduction: Reduction = "mean"):
    """Binary cross-entropy on probabilities x ∈ [0, 1]:

    ℓ = −w · [y · max(log x, −100) + (1 − y) · max(log(1 − x), −100)]  (the clamp as torch: finite at 0 and 1).
    'mean' = Σℓ / numel. For logits use :func:`binary_cross_entropy_with_logits` (stable and faster).
    """
    op = "binary_cross_entropy"
    _check_reduction(reduction, op)
    _check_float_input(input, op)
    x = _data(input)
    if x.size:
        be = backend_of((x,))

        def report():
            raise ValueError(f"{op}: all elements of input must be probabilities in [0, 1], got values in "
                             f"[{float(x.min())}, {float(x.max())}]; for logits use "
                             f"binary_cross_entropy_with_logits (or apply sigmoid first){be.deferred_note}")
        be.check_later(((x < 0) | (x > 1)).any(), report)
    return _pointwise(BCE, op, input, target, reduction, weight)


def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction: Reduction = "mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable formula, on logits x:

    ℓ = w · [max(x, 0) − x · y + log(1 + e^−|x|)]; with ``pos_weight`` p (broadcast along the last dim, one per
    class): ℓ = w · [(1 − y) · x + (1 + (p − 1) · y) · (max(−x, 0) + log(1 + e^−|x|))]. 'mean' = Σℓ / numel.
    """
    op = "binary_cross_entropy_with_logits"
    pw = _const(pos_weight, input, "pos_weight", op, shape=input.shape) if pos_weight is not None else None
    return _pointwise(BCEWithLogits, op, input, target, reduction, weight, pos_weight=pw)
