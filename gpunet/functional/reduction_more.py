"""More reductions with torch's gradients: var and std (``correction``), logsumexp, prod, cumsum, cumprod, and
sort / argsort / topk (named tuples ``(values, indices)`` as torch.return_types)."""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from ..autograd._dims import canonical_dim, canonical_dims
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import backend_of

__all__ = ["var", "std", "logsumexp", "prod", "cumsum", "cumprod", "sort", "argsort", "topk"]

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])


def _kept(xp, g, axis, keepdim, ndim):
    """A reduced gradient with the reduced axes back (size 1), ready to broadcast."""
    if keepdim:
        return g
    axes = range(ndim) if axis is None else axis
    for a in sorted(axes):
        g = xp.expand_dims(g, a)
    return g


class Var(Function):
    """Σ(x − x̄)² / (N − correction) over ``axis``; gradient 2(x − x̄)/(N − correction)."""

    def forward(self, xp, x, axis=None, correction=1, keepdim=False):
        n = x.size if axis is None else math.prod(x.shape[a] for a in axis)
        mean = x.mean(axis=axis, keepdims=True)
        d = x - mean
        self.d, self.axis, self.keepdim, self.denom = d, axis, keepdim, max(n - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):  # N − correction = 0: NaN, as torch
            return (d * d).sum(axis=axis, keepdims=keepdim) / self.denom

    def backward(self, xp, g):
        with np.errstate(divide="ignore", invalid="ignore"):  # N − correction = 0: NaN, as torch
            return (_kept(xp, g, self.axis, self.keepdim, self.d.ndim) * (2 * self.d / self.denom),)


class LogSumExp(Function):
    """log Σ eˣ over ``axis``, computed as m + log Σ e^(x − m); gradient softmax(x)."""

    def forward(self, xp, x, axis=None, keepdim=False):
        m = x.max(axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
        self.x, self.out, self.axis, self.keepdim = x, out, axis, keepdim
        if keepdim:
            return out
        return out.reshape(tuple(n for i, n in enumerate(out.shape) if axis is not None and i not in axis))

    def backward(self, xp, g):
        return (_kept(xp, g, self.axis, self.keepdim, self.x.ndim) * xp.exp(self.x - self.out),)


class Prod(Function):
    """Π x over ``axis``; gradient Π/x where x ≠ 0, and the product of the others where x is the one zero."""

    def forward(self, xp, x, axis=None, keepdim=False):
        self.x, self.axis, self.keepdim = x, axis, keepdim
        return x.prod(axis=axis, keepdims=keepdim)

    def backward(self, xp, g):
        x, axis = self.x, self.axis
        gk = _kept(xp, g, axis, self.keepdim, x.ndim)
        zero = x == 0
        safe = xp.where(zero, 1, x)
        others = safe.prod(axis=axis, keepdims=True) / safe          # Π of the non-zero others
        nzero = zero.sum(axis=axis, keepdims=True)
        grad = xp.where(nzero == 0, others, xp.where((nzero == 1) & zero, others, 0))
        return (gk * grad,)


class CumSum(Function):
    def forward(self, xp, x, axis=0):
        self.axis = axis
        return xp.cumsum(x, axis=axis)

    def backward(self, xp, g):
        return (xp.flip(xp.cumsum(xp.flip(g, self.axis), axis=self.axis), self.axis),)


class CumProd(Function):
    """Cumulative product; gradient Σ_{j≥i} g_j·y_j/x_i, computed without dividing by zero: where the input
    has zeros, by the O(n²) exclusive-product form along the axis (torch's result in both cases)."""

    def forward(self, xp, x, axis=0):
        y = xp.cumprod(x, axis=axis)
        self.x, self.y, self.axis = x, y, axis
        return y

    def backward(self, xp, g):
        x, y, ax = self.x, self.y, self.axis
        if not bool((x == 0).any()):
            return (xp.flip(xp.cumsum(xp.flip(g * y, ax), axis=ax), ax) / x,)
        n = x.shape[ax]
        xm = xp.moveaxis(x, ax, -1)
        gm = xp.moveaxis(g, ax, -1)
        out = xp.zeros_like(xm)
        for i in range(n):  # d y_j / d x_i = Π_{k≤j, k≠i} x_k for j ≥ i
            others = xm.copy()
            others[..., i] = 1
            part = xp.cumprod(others, axis=-1)[..., i:]
            out[..., i] = (gm[..., i:] * part).sum(axis=-1)
        return (xp.moveaxis(out, -1, ax),)


class _TakeAlong(Function):
    """Values of ``x`` at ``idx`` along ``axis`` (a permutation or a selection without repeats)."""

    def forward(self, xp, x, idx=None, axis=-1):
        self.shape, self.idx, self.axis = x.shape, idx, axis
        return xp.take_along_axis(x, idx, axis)

    def backward(self, xp, g):
        out = xp.zeros(self.shape, dtype=g.dtype)
        grid = list(xp.indices(self.idx.shape, sparse=True))
        grid[self.axis] = self.idx
        out[tuple(grid)] = g
        return (out,)


# ====================================================================== public wrappers
def var(input, dim=None, *, correction=1, keepdim: bool = False, unbiased=None):
    """Variance over ``dim`` with Bessel's ``correction`` (1: unbiased, torch's default; ``unbiased=False`` = 0)."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    return Var.apply(input, axis=canonical_dims(dim, input.ndim, "var"), correction=correction,
                     keepdim=bool(keepdim))


def std(input, dim=None, *, correction=1, keepdim: bool = False, unbiased=None):
    """√var (same arguments)."""
    from .math import sqrt

    return sqrt(var(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased))


def logsumexp(input, dim, keepdim: bool = False):
    """log Σ exp over ``dim`` (stable)."""
    return LogSumExp.apply(input, axis=canonical_dims(dim, input.ndim, "logsumexp"), keepdim=bool(keepdim))


def prod(input, dim=None, keepdim: bool = False):
    """Π over one ``dim`` (or all elements)."""
    axis = None if dim is None else (canonical_dim(dim, input.ndim, "prod"),)
    return Prod.apply(input, axis=axis, keepdim=bool(keepdim))


def cumsum(input, dim: int):
    return CumSum.apply(input, axis=canonical_dim(dim, input.ndim, "cumsum"))


def cumprod(input, dim: int):
    return CumProd.apply(input, axis=canonical_dim(dim, input.ndim, "cumprod"))


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    """``(values, indices)`` sorted along ``dim`` (stable order of equal elements either way)."""
    ax = canonical_dim(dim, input.ndim, "sort")
    a = input.data if isinstance(input, Tensor) else input
    xp = backend_of((a,)).xp
    idx = xp.argsort(-a if descending else a, axis=ax, kind="stable")
    return SortResult(_TakeAlong.apply(input, idx=idx, axis=ax), Tensor._make(idx, False, None))


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(input, dim, descending, stable).indices


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """The ``k`` largest (smallest) entries along ``dim`` and their indices, largest first."""
    ax = canonical_dim(dim, input.ndim, "topk")
    n = input.shape[ax] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) must be in [0, {n}] (the size of dim {dim})")
    s = sort(input, ax, descending=largest)
    idx = s.indices.data
    sl = [slice(None)] * input.ndim
    sl[ax] = slice(0, k)
    idx = idx[tuple(sl)]
    return TopkResult(_TakeAlong.apply(input, idx=idx, axis=ax), Tensor._make(idx, False, None))
