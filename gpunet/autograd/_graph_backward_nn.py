"""``backward_graph`` of the activations, the fused linear layers and the common losses, with gpunet ops (so that
they differentiate again). The fused ops (LinearAct, LinearChain) and the losses differentiate their forward
rewritten with elementary ops (:func:`~._graph_backward.through_composite`)."""
from __future__ import annotations

import math

from ..functional import _act_math as am
from ..functional import activation as A
from ..functional import loss_classification as LC
from ..functional import loss_pointwise as LP
from ..functional.linear import LinearAct, LinearChain
from ..functional.math import clip, exp, getitem, matmul, reshape, where
from ..functional.math import sum as _sum
from ..functional.nn_misc import Norm
from ._graph_backward import const, through_composite
from ._graph_backward import input_tensor as inp
from .function import Function


class Erf(Function):
    """erf(x); d/dx = 2/√π · e^(−x²) (used by GELU's differentiable backward)."""

    def forward(self, xp, x):
        self.x = x
        return am._erf(xp)(x)

    def backward(self, xp, g):
        x = self.x
        return (g * (2 / math.sqrt(math.pi)) * xp.exp(-x * x),)

    def backward_graph(self, g):
        x = inp(self, 0, self.x)
        return (g * (2 / math.sqrt(math.pi)) * exp(-x * x),)


_ACT_FN = {"identity": None, "relu": A.ReLU, "leaky_relu": A.LeakyReLU, "sigmoid": A.Sigmoid, "tanh": A.Tanh,
           "gelu": A.GELU, "gelu_tanh": A.GELUTanh, "silu": A.SiLU}


def activate(act, z, alpha):
    """``act(z)`` as a recorded op (identity: ``z``)."""
    cls = _ACT_FN[act]
    return z if cls is None else cls.apply(z, alpha=alpha)


def act_grad(act, x, g, alpha, mask=None):
    """g · act'(x) with gpunet ops (``mask``: x > 0, for relu and leaky_relu)."""
    if act == "identity":
        return g
    if act in ("relu", "leaky_relu"):
        if mask is None:
            mask = x.data > 0
        m = const(None, mask)
        return g * m if act == "relu" else where(m, g, g * alpha)
    if act == "sigmoid":
        s = A.Sigmoid.apply(x)
        return g * s * (1 - s)
    if act == "tanh":
        t = A.Tanh.apply(x)
        return g * (1 - t * t)
    if act == "gelu":
        cdf = 0.5 * (1 + Erf.apply(x * am._INV_SQRT2))
        pdf = exp(-0.5 * x * x) * am._INV_SQRT_2PI
        return g * (cdf + x * pdf)
    if act == "gelu_tanh":
        inner = am._SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
        t = A.Tanh.apply(inner)
        dinner = am._SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)
    if act == "silu":
        s = A.Sigmoid.apply(x)
        return g * s * (1 + x * (1 - s))
    raise RuntimeError(f"double backward is not implemented for the activation {act!r}")


def _shared(self, g):
    act = self.act
    mask = self.saved if act in ("relu", "leaky_relu") else None
    saved = self.saved if act in ("gelu", "gelu_tanh", "silu") else None
    return (act_grad(act, inp(self, 0, saved), g, self.alpha, mask),)


def _softplus(self, g):
    bx = inp(self, 0) * self.beta
    return (where(const(self, self.linear), g, g * A.Sigmoid.apply(bx)),)


def _elu(self, g):
    x = inp(self, 0)
    return (where(const(self, self.mask), g, g * self.alpha * exp(clip(x, None, 0.0))),)


def _masked(self, g):
    return (g * const(self, self.mask),)


def _step(self, g):
    return (g * 0.0,)


def _softmax(self, g):
    y = A.Softmax.apply(inp(self, 0), axis=self.axis)
    return (y * (g - _sum(g * y, axis=self.axis, keepdims=True)),)


def _log_softmax(self, g):
    p = A.Softmax.apply(inp(self, 0), axis=self.axis)
    return (g - p * _sum(g, axis=self.axis, keepdims=True),)


def _norm(self, g):
    """p = 2: x · g / ‖x‖ (0 where ‖x‖ = 0, as torch); p = 1: sign(x) · g."""
    from ..functional.nn_misc import _expand, norm

    x, p = inp(self, 0, self.x), self.p
    xp = self.backend.xp
    gb = reshape(g, _expand(xp, g.data, self.axis, self.keepdim, x.ndim).shape)
    if p == 1:
        return (gb * const(self, xp.sign(self.x)),)
    if p != 2:
        raise RuntimeError(f"double backward is not implemented for Norm with p={p} (only p = 1 and 2)")
    n = norm(x, 2, self.axis, keepdim=True)
    zero = const(self, n.data == 0)
    return (x * where(zero, 0.0, gb / where(zero, 1.0, n)),)


# ====================================================================== fused linear layers (composites)
def _rows(x):
    return reshape(x, (1, -1)) if x.ndim == 1 else reshape(x, (-1, x.shape[-1])) if x.ndim > 2 else x


def _linear_act(self, g):
    shape, act, alpha = self.shape, self.act, self.alpha

    def build(x, W, b):
        z = matmul(_rows(x), W.transpose(-1, -2))
        if b is not None:
            z = z + b
        y = activate(act, z, alpha)
        return reshape(y, shape[:-1] + (W.shape[0],))
    return through_composite(self, g, build)


def _linear_chain(self, g):
    shape, acts, alphas = self.shape, self.acts, self.alphas

    def build(x, *params):
        h = _rows(x)
        for i, act in enumerate(acts):
            W, b = params[2 * i], params[2 * i + 1]
            h = matmul(h, W.transpose(-1, -2))
            if b is not None:
                h = h + b
            h = activate(act, h, alphas[i])
        return reshape(h, shape[:-1] + (h.shape[-1],))
    return through_composite(self, g, build)


# ====================================================================== losses (composites)
def _reduced(loss, reduction, denom):
    if reduction == "none":
        return loss
    s = _sum(loss)
    if reduction == "sum":
        return s
    return s / denom


def _mse(self, g):
    w, reduction, denom = self.w, self.reduction, self.denom

    def build(x, y, _w):
        d = x - y
        loss = d * d
        if w is not None:
            loss = loss * const(self, w)
        return _reduced(loss, reduction, denom)
    return through_composite(self, g, build)


def _l1(self, g):
    w, reduction, denom, sign = self.w, self.reduction, self.denom, self.sign

    def build(x, y, _w):
        loss = (x - y) * const(self, sign)  # |d| = sign(d) · d, the sign held constant
        if w is not None:
            loss = loss * const(self, w)
        return _reduced(loss, reduction, denom)
    return through_composite(self, g, build)


def _softmax_xent(self, g):
    safe, row_w, keep, weight = self.safe, self.row_w, self.keep, self.weight
    reduction, eps, denom = self.reduction, self.eps, self.denom
    xp = self.backend.xp

    def build(z, _t, _w):
        n, c = z.shape
        logp = A.LogSoftmax.apply(z, axis=1)
        per = -getitem(logp, (xp.arange(n), safe))
        if row_w is not None:
            per = per * const(self, row_w)
        if eps:
            smooth = -_sum(logp if weight is None else logp * const(self, weight), axis=1)
            if keep is not None:
                smooth = smooth * const(self, keep)
            per = (1 - eps) * per + (eps / c) * smooth
        return _reduced(per, reduction, denom)
    return through_composite(self, g, build)


def _nll(self, g):
    rows, safe, row_w, reduction, denom = self.rows, self.safe, self.row_w, self.reduction, self.denom

    def build(logp, _t, _w):
        per = -getitem(logp, (rows, safe))
        if row_w is not None:
            per = per * const(self, row_w)
        return _reduced(per, reduction, denom)
    return through_composite(self, g, build)


def _soft_xent(self, g):
    w, axis, reduction, denom = self.w, self.axis, self.reduction, self.denom

    def build(x, q, _w):
        logp = A.LogSoftmax.apply(x, axis=axis)
        wq = q if w is None else q * const(self, w)
        loss = -_sum(wq * logp, axis=axis)
        return _reduced(loss, reduction, denom)
    return through_composite(self, g, build)


_METHODS = {
    A._Shared: _shared, A.Softplus: _softplus, A.ELU: _elu, A.Hardtanh: _masked, A.Step: _step,
    A.Softmax: _softmax, A.LogSoftmax: _log_softmax, LinearAct: _linear_act, LinearChain: _linear_chain,
    LP.MSE: _mse, LP.L1: _l1, LC.SoftmaxCrossEntropy: _softmax_xent, LC.NLL: _nll,
    LC.SoftTargetCrossEntropy: _soft_xent, Norm: _norm,
}
for _cls, _m in _METHODS.items():
    _cls.backward_graph = _m

__all__ = ["Erf", "act_grad", "activate"]
