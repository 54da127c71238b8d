"""Loss functions, PyTorch-shaped: same names, arguments, defaults and reductions.

Each loss is one :class:`~gpunet.autograd.Function` that computes the elementwise (or per-row) loss, applies the
reduction (``'mean'`` | ``'sum'`` | ``'none'``) and writes the whole vector-Jacobian product by hand. Targets
given as NumPy arrays or lists are moved to the input's device; floating targets take the input's dtype (so a
float64 NumPy target does not turn a float32 loss into float64). Class weights, element weights and
``pos_weight`` are constants: no gradient flows to them.

The integer-target cross-entropy runs as one fused op on (rows, classes) logits through
``backend.softmax_xent_forward`` / ``softmax_xent_backward``; (N, C, d1, ...) inputs are moved to that layout.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import backend_of
from . import _act_math as am
from .activation import _log_softmax
from .math import cast, reshape, transpose

__all__ = ["l1_loss", "mse_loss", "rmse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "gaussian_nll_loss", "multi_margin_loss"]

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")


# ====================================================================== argument handling
def _data(a):
    return a.data if isinstance(a, Tensor) else a


def _check_reduction(reduction, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction={reduction!r} is not valid; expected 'mean', 'sum' or 'none'")


def _check_float_input(input, op: str) -> None:
    if not hasattr(input, "dtype") or np.dtype(input.dtype).kind != "f":
        raise TypeError(f"{op}: input must be a floating tensor, got "
                        f"{getattr(input, 'dtype', type(input).__name__)}; convert it with .float()")


def _on_device_of(input, a, dtype=None):
    """A raw array (list, NumPy or CuPy array, Tensor's data) on ``input``'s backend, optionally cast."""
    x, a = _data(input), _data(a)
    if type(a) is type(x) and (dtype is None or a.dtype == dtype):  # already there: asarray would return it
        return a
    return backend_of((x,)).asarray(a, dtype=dtype)


def _float_target(target, input, op: str):
    """``target`` with the input's floating dtype: a Tensor stays differentiable, anything else becomes an array."""
    dt = input.dtype
    if isinstance(target, Tensor):
        if target.dtype == dt:
            return target
        if np.dtype(target.dtype).kind == "f":
            return cast(target, dt)
        return Tensor._make(target.data.astype(dt), False, None)
    if np.isscalar(target):
        raise TypeError(f"{op}: target must be an array or a tensor shaped like the input, got a scalar")
    return _on_device_of(input, target, dt)


def _same_shape(input, target, op: str) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: target shape {tuple(target.shape)} does not match input shape "
                         f"{tuple(input.shape)}; they must be equal (reshape one of them, e.g. "
                         f"target.reshape({tuple(input.shape)}), or check the model's output width)")


def _const(a, input, name: str, op: str, shape=None):
    """A weight-like constant as a raw array of the input's dtype on its device; ``shape``: where it must
    broadcast to without growing it."""
    if a is None:
        return None
    arr = _on_device_of(input, a, input.dtype)
    if shape is not None:
        try:
            ok = np.broadcast_shapes(arr.shape, tuple(shape)) == tuple(shape)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{op}: {name} of shape {tuple(arr.shape)} does not broadcast to the input shape "
                             f"{tuple(shape)}")
    return arr


def _class_weight(weight, input, n_classes: int, op: str):
    w = _const(weight, input, "weight", op)
    if w is not None and tuple(w.shape) != (n_classes,):
        raise ValueError(f"{op}: weight must hold one value per class, shape ({n_classes},); got shape "
                         f"{tuple(w.shape)}")
    return w


def _index_target(target, input, n_classes: int, op: str, ignore_index=None):
    """``(t, masked)``: class indices as a raw integer array on the input's device, checked to lie in
    [0, n_classes), and whether some entry may equal ``ignore_index``.

    The check runs where the target is: a NumPy target is checked on the host before it moves, so a GPU input
    with host labels costs no device synchronisation (and ``masked`` is exact there; True when unknown).
    """
    t = _data(target)
    if not hasattr(t, "dtype"):  # a list or a Python int
        t = np.asarray(t)
    if np.dtype(t.dtype).kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be integers, got dtype {t.dtype}; convert them with "
                        f"target.astype('int64')" + (" (or give class probabilities shaped like the input)"
                                                    if op == "cross_entropy" else ""))
    masked = _check_labels(t, n_classes, op, ignore_index)
    return _on_device_of(input, t), masked


def _check_labels(target, n_classes: int, op: str, ignore_index=None) -> bool:
    """Raise IndexError naming the first label outside [0, n_classes) (``ignore_index`` is allowed); return
    whether some entry equals ``ignore_index``."""
    be = backend_of((target,))
    flat, ignored = be.label_summary(target, n_classes, ignore_index)
    if flat < 0:
        return ignored
    target = be.to_host(target)
    pos = tuple(int(i) for i in np.unravel_index(flat, target.shape))
    value = int(target.reshape(-1)[flat])
    extra = f", or ignore_index={ignore_index}" if ignore_index is not None else ""
    raise IndexError(f"{op}: target value {value} at position {pos} is out of range: class indices must be in "
                     f"[0, {n_classes}) for an input with {n_classes} classes{extra}. Check that labels start "
                     f"at 0 and that the model has one output per class.")


def _as_rows(input, target, op: str):
    """Class-index problems as (rows, C) inputs and (rows,) targets.

    Accepts (C,) with a () target, (N, C) with (N,), and (N, C, d1, ...) with (N, d1, ...). Returns
    ``(input2d, target1d, out_shape)`` where ``out_shape`` is the shape of the unreduced loss.
    """
    ishape, tshape = tuple(input.shape), tuple(target.shape)
    if len(ishape) == 2 and tshape == ishape[:1]:  # (N, C) with (N,): already rows
        return input, target, tshape
    if len(ishape) == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d input")
    expected = () if len(ishape) == 1 else (ishape[0],) + ishape[2:]
    if tshape != expected:
        raise ValueError(f"{op}: target shape {tshape} does not fit input shape {ishape}: class-index targets "
                         f"must have shape {expected} (the input's shape without the class dimension"
                         f"{'' if len(ishape) == 1 else ', dim 1'})")
    c = ishape[0] if len(ishape) == 1 else ishape[1]
    if len(ishape) > 2:
        perm = (0,) + tuple(range(2, len(ishape))) + (1,)
        input = transpose(input, perm)
    if len(ishape) != 2:
        input = reshape(input, (-1, c))
    return input, target.reshape(-1), tshape


def _unrows(loss, out_shape, reduction):
    if reduction == "none" and tuple(loss.shape) != tuple(out_shape):
        return reshape(loss, out_shape)
    return loss


# ====================================================================== reduction
def _reduce(loss, reduction, denom=None):
    """``loss`` reduced; 'mean' divides by ``denom`` (default: the number of elements)."""
    if reduction == "none":
        return loss
    s = loss.sum()
    if reduction == "sum":
        return s
    return _divide(s, loss.size if denom is None else denom)


def _reduce_grad(g, reduction, denom):
    """The upstream gradient of :func:`_reduce`, broadcastable to the unreduced loss."""
    if reduction != "mean":
        return g
    return _divide(g, denom)


def _divide(a, denom):
    """``a / denom`` for a 'mean': an empty or fully ignored batch (denom 0) gives nan, as torch, without a
    warning. A positive int denominator cannot divide by zero, so it skips the errstate context (µs a call)."""
    if type(denom) is int and denom > 0:
        return a / denom
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / denom


def _weights_of_rows(xp, target, weight, ignore_index, dtype, masked=True):
    """For class-index losses: ``(safe, row_w, keep, denom)``; ``None`` stands for all ones.

    ``keep`` is 1.0 where the entry counts and 0.0 where it equals ``ignore_index`` (``None`` when ``masked`` is
    False: the caller knows that no entry is ignored), ``safe`` the target with ignored entries replaced by class
    0, ``row_w`` = ``weight[target] · keep``, ``denom`` what 'mean' divides by: Σ row_w (the row count when
    ``row_w`` is ``None``). The unmasked, unweighted case costs no extra pass.
    """
    if masked:
        ignored = target == ignore_index
        safe = xp.where(ignored, 0, target)
        keep = (~ignored).astype(dtype)
        row_w = keep if weight is None else weight[safe] * keep
    else:
        safe, keep = target, None
        row_w = None if weight is None else weight[target]
    denom = target.shape[0] if row_w is None else row_w.sum()
    return safe, row_w, keep, denom


def _times(a, b):
    """``a · b`` where ``b`` may be ``None`` (all ones)."""
    return a if b is None else a * b


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
    """ℓ = (x − y)²; dℓ/dx = 2(x − y) = −dℓ/dy."""

    mean_by_weight = True

    def loss(self, xp, x, y):
        self.diff = x - y
        return self.diff * self.diff

    def grads(self, xp, g, nx, ny):
        dx = 2 * self.diff * g
        return (dx if nx else None), (-dx if ny else None)


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


# ====================================================================== public functions: regression
def mse_loss(input, target, *, reduction: Reduction = "mean", weight=None):
    """Mean squared error: ℓᵢ = wᵢ · (xᵢ − yᵢ)²; 'mean' = Σℓ / numel (Σℓ / Σw with ``weight``), 'sum' = Σℓ.

    ``weight`` (optional, shape of the input) rescales each element, as torch.
    """
    return _pointwise(MSE, "mse_loss", input, target, reduction, weight, exact_weight=True)


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
        if vd.size and bool((vd < 0).any()):
            raise ValueError(f"{op}: var has negative entries (min {float(vd.min())}); the variance must be >= 0 "
                             f"(predict it through exp(...) or softplus(...))")
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


def binary_cross_entropy(input, target, weight=None, *, reduction: Reduction = "mean"):
    """Binary cross-entropy on probabilities x ∈ [0, 1]:

    ℓ = −w · [y · max(log x, −100) + (1 − y) · max(log(1 − x), −100)]  (the clamp as torch: finite at 0 and 1).
    'mean' = Σℓ / numel. For logits use :func:`binary_cross_entropy_with_logits` (stable and faster).
    """
    op = "binary_cross_entropy"
    _check_reduction(reduction, op)
    _check_float_input(input, op)
    x = _data(input)
    if x.size and bool(((x < 0) | (x > 1)).any()):
        raise ValueError(f"{op}: all elements of input must be probabilities in [0, 1], got values in "
                         f"[{float(x.min())}, {float(x.max())}]; for logits use "
                         f"binary_cross_entropy_with_logits (or apply sigmoid first)")
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
