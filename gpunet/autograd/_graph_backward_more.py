"""``backward_graph`` of the further ops: var/std, logsumexp, cumsum, the rearranging ops (tril/triu, flip, roll,
repeat, repeat_interleave), scatter, masked_select, sort/topk selections, dropout, the extra activations and the
binary cross-entropies, with gpunet ops (so that they differentiate again)."""
from __future__ import annotations

from ..functional import activation as A
from ..functional import activation_extra as AX
from ..functional import indexing as I
from ..functional import loss_pointwise as LP
from ..functional import loss_robust as LR
from ..functional import nn_misc as NM
from ..functional import rearrange as RA
from ..functional import reduction_more as RM
from ..functional.dropout import Dropout
from ..functional.elementwise import Clip
from ..functional.math import exp, getitem, log, log1p, reshape, sum as _sum, where
from ._graph_backward import const, input_tensor as inp, through_composite
from ._graph_backward_nn import _reduced
from ._graph_backward_shape import IndexBackward


def _kept(g, axis, keepdim, ndim):
    if keepdim:
        return g
    axes = set(range(ndim)) if axis is None else set(axis)
    shape, it = [], iter(g.shape)
    for i in range(ndim):
        shape.append(1 if i in axes else next(it))
    return reshape(g, tuple(shape))


def _var(self, g):
    axis, denom = self.axis, self.denom
    x = inp(self, 0)
    d = x - x.mean(axis=axis, keepdims=True)
    return (_kept(g, axis, self.keepdim, self.d.ndim) * (2 * d / denom),)


def _logsumexp(self, g):
    x = inp(self, 0, self.x)
    lse = RM.LogSumExp.apply(x, axis=self.axis, keepdim=True)
    return (_kept(g, self.axis, self.keepdim, self.x.ndim) * exp(x - lse),)


def _cumsum(self, g):
    ax = self.axis
    return (RA.Flip.apply(RM.CumSum.apply(RA.Flip.apply(g, dims=(ax,)), axis=ax), dims=(ax,)),)


def _tri(self, g):
    return (RA.Tri.apply(g, k=self.k, upper=self.upper),)


def _flip(self, g):
    return (RA.Flip.apply(g, dims=self.dims) if self.dims else g,)


def _roll(self, g):
    back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
    return (RA.Roll.apply(g, shifts=back, dims=self.dims),)


def _repeat(self, g):
    inter = []
    for r, s in zip(self.sizes, self.full):
        inter += [r, s]
    g = _sum(reshape(g, tuple(inter)), axis=tuple(range(0, 2 * len(self.sizes), 2)))
    return (reshape(g, self.shape),)


def _repeat_interleave(self, g):
    d, r = self.dim, self.repeats
    if isinstance(r, int):
        g = reshape(g, self.shape[:d] + (self.shape[d], r) + self.shape[d + 1:])
        return (_sum(g, axis=d + 1),)
    return (IndexBackward.apply(g, shape=self.shape, index=(slice(None),) * d + (self.src,)),)


def _scatter(self, g):
    na, _, ns = self.needs_input_grad
    ga = gs = None
    if na:
        if self.add:
            ga = g
        else:
            keep = self.backend.xp.ones(g.shape, dtype=g.dtype)
            keep[self.mesh] = 0
            ga = g * const(self, keep)
    if ns:
        gs = getitem(g, self.mesh)
    return ga, None, gs


def _masked_select(self, g):
    return IndexBackward.apply(g, shape=self.shape, index=self.mask), None


def _take_along(self, g):
    xp = self.backend.xp
    grid = list(xp.indices(self.idx.shape, sparse=True))
    grid[self.axis] = self.idx
    return (IndexBackward.apply(g, shape=self.shape, index=tuple(grid)),)


def _dropout(self, g):
    return (g * const(self, self.scale),)


def _selu(self, g):
    x = inp(self, 0)
    lam, alpha = AX._SELU_SCALE, AX._SELU_ALPHA
    return (where(const(self, self.pos), g * lam, g * (lam * alpha) * exp(Clip.apply(x, hi=0.0))),)


def _logsigmoid(self, g):
    return (g * A.Sigmoid.apply(-inp(self, 0, self.x)),)


def _mish(self, g):
    return through_composite(self, g, lambda x: x * A.Tanh.apply(A.Softplus.apply(x, beta=1.0, threshold=20.0)))


def _hardswish(self, g):
    x = inp(self, 0, self.x)
    xd = self.x
    mid = where(const(self, xd <= 3), g * (x / 3 + 0.5), g)
    return (where(const(self, xd < -3), 0.0, mid),)


def _glu(self, g):
    axis = self.axis

    def build(x):
        n = x.shape[axis] // 2
        lead = (slice(None),) * (axis % x.ndim)
        return getitem(x, lead + (slice(0, n),)) * A.Sigmoid.apply(getitem(x, lead + (slice(n, None),)))
    return through_composite(self, g, build)


def _prelu(self, g):
    pos, shape = const(self, self.pos), self.wb.shape
    return through_composite(self, g, lambda x, w: where(pos, x, reshape(w, shape) * x))


def _bce_logits(self, g):
    pw, w, reduction, denom = self.pw, self.w, self.reduction, self.denom

    def build(x, y, _w):
        sp = A.Softplus.apply(-x, beta=1.0, threshold=20.0)
        loss = (1 - y) * x + (sp if pw is None else (1 + (pw - 1) * y) * sp)
        if w is not None:
            loss = loss * const(self, w)
        return _reduced(loss, reduction, denom)
    return through_composite(self, g, build)


def _bce(self, g):
    w, reduction, denom = self.w, self.reduction, self.denom

    def build(x, y, _w):
        loss = -(y * Clip.apply(log(x), lo=-100.0) + (1 - y) * Clip.apply(log1p(-x), lo=-100.0))
        if w is not None:
            loss = loss * const(self, w)
        return _reduced(loss, reduction, denom)
    return through_composite(self, g, build)


def _robust(kind):
    def backward_graph(self, g):
        w, reduction, denom, params = self.w, self.reduction, self.denom, self.params
        sign, inner = const(self, self.backend.xp.sign(self.d)), const(self, self.inner)

        def build(x, y, _w):
            d = x - y
            a = d * sign  # |d|, the sign held constant
            if kind == "smooth_l1":
                beta = params["beta"]
                loss = a if beta == 0 else where(inner, 0.5 * d * d / beta, a - 0.5 * beta)
            else:
                delta = params["delta"]
                loss = where(inner, 0.5 * d * d, delta * (a - 0.5 * delta))
            if w is not None:
                loss = loss * const(self, w)
            return _reduced(loss, reduction, denom)
        return through_composite(self, g, build)
    return backward_graph


def _kl_div(self, g):
    log_target, denom = self.log_target, self.denom
    reduction = "mean" if self.reduction == "batchmean" else self.reduction
    pos = None if log_target else const(self, self.pos)

    def build(x, t):
        if log_target:
            loss = exp(t) * (t - x)
        else:
            loss = where(pos, t * (log(where(pos, t, 1.0)) - x), 0.0)
        return _reduced(loss, reduction, denom)
    return through_composite(self, g, build)


def _window(self, g):
    return (getitem(g, self.window),)


def _clamp_min(self, g):
    return (g * const(self, self.mask),)


def _identity(self, g):
    return (g,)


_METHODS = {
    RM.Var: _var, RM.LogSumExp: _logsumexp, RM.CumSum: _cumsum, RM._TakeAlong: _take_along, RA.Tri: _tri,
    RA.Flip: _flip, RA.Roll: _roll, RA.Repeat: _repeat, RA.RepeatInterleave: _repeat_interleave,
    I.Scatter: _scatter, I.MaskedSelect: _masked_select, Dropout: _dropout, AX.SELU: _selu,
    AX.LogSigmoid: _logsigmoid, AX.Mish: _mish, AX.Hardswish: _hardswish, AX.GLU: _glu, AX.PReLU: _prelu,
    LP.BCEWithLogits: _bce_logits, LP.BCE: _bce, LR.SmoothL1: _robust("smooth_l1"), LR.Huber: _robust("huber"),
    LR.KLDiv: _kl_div, NM.Pad: _window, NM._ClampMin: _clamp_min, NM._ClampMinNoGrad: _identity,
}
for _cls, _m in _METHODS.items():
    _cls.backward_graph = _m
