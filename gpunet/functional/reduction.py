"""Reductions: sum, mean, and max/min as PyTorch has them.

``max(x)`` is a 0-d tensor (ties share the gradient evenly); ``max(x, dim)`` is the named tuple
``(values, indices)``, the gradient going to the returned index; ``amax(x, dims)`` reduces over several dims and
returns values only. Dims are checked (``IndexError`` outside ``[-ndim, ndim - 1]``), never wrapped.
"""
from __future__ import annotations

from collections import namedtuple

from ..autograd._dims import canonical_dim, canonical_dims
from ..autograd.function import Function
from ..autograd.tensor import Tensor

__all__ = ["sum", "mean", "max", "min", "amax", "amin", "return_types"]


class return_types:  # noqa: N801  (torch.return_types)
    """The named tuples ``max(dim)`` and ``min(dim)`` return (``.values``, ``.indices``), as ``torch.return_types``."""
    max = namedtuple("max", ["values", "indices"])
    min = namedtuple("min", ["values", "indices"])


def _expand(xp, g, shape, axis, keepdims):
    """Broadcast a reduced gradient ``g`` back to ``shape``."""
    if axis is not None and not keepdims:
        g = xp.expand_dims(g, axis)
    return xp.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, xp, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, canonical_dims(axis, a.ndim, "sum"), keepdims
        return a.sum(axis=self.axis, keepdims=keepdims)

    def backward(self, xp, g):
        return (_expand(xp, g, self.shape, self.axis, self.keepdims),)


class Mean(Function):
    def forward(self, xp, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, canonical_dims(axis, a.ndim, "mean"), keepdims
        out = a.mean(axis=self.axis, keepdims=keepdims)
        self.count = a.size // (out.size or 1) if a.size else 1
        return out

    def backward(self, xp, g):
        return (_expand(xp, g / self.count, self.shape, self.axis, self.keepdims),)


class _AllExtremum(Function):
    """max/min over all elements or several dims (``amax``/``amin``): ties share the gradient evenly."""
    _reduce = "max"

    def forward(self, xp, a, axis=None, keepdims=False):
        op = "a" + self._reduce if axis is not None else self._reduce
        axis = canonical_dims(axis, a.ndim, op)
        if a.size == 0:
            reduced = range(a.ndim) if axis is None else axis
            if axis is None or any(a.shape[d] == 0 for d in reduced):
                raise RuntimeError(f"{op}(): cannot reduce over an empty dimension (input shape {tuple(a.shape)})"
                                   f"; an empty input has no {self._reduce}imum")
        out = getattr(a, self._reduce)(axis=axis, keepdims=keepdims)
        self.a, self.axis, self.keepdims, self.out = a, axis, keepdims, out
        return out

    def backward(self, xp, g):
        a, axis = self.a, self.axis
        out_b = _expand(xp, self.out, a.shape, axis, self.keepdims)
        mask = a == out_b
        count = mask.sum(axis=axis, keepdims=True)
        return (_expand(xp, g, a.shape, axis, self.keepdims) * mask / count,)


class _Max(_AllExtremum):
    _reduce = "max"


class _Min(_AllExtremum):
    _reduce = "min"


class _Select(Function):
    """``take_along_axis(a, idx)`` along one axis; the gradient goes to the selected index only."""

    def forward(self, xp, a, idx=None, axis=0, keepdims=False):
        self.shape, self.idx, self.axis, self.keepdims = a.shape, idx, axis, keepdims
        out = xp.take_along_axis(a, xp.expand_dims(idx, axis), axis)
        return out if keepdims else out.squeeze(axis)

    def backward(self, xp, g):
        shape = [1] * len(self.shape)
        shape[self.axis] = self.shape[self.axis]
        mask = xp.arange(self.shape[self.axis]).reshape(shape) == xp.expand_dims(self.idx, self.axis)
        return (_expand(xp, g, self.shape, (self.axis,), self.keepdims) * mask,)


def _along(a, dim, keepdim, which):
    """``(values, indices)`` of ``max``/``min`` of ``a`` along one ``dim``."""
    arr = a.data if isinstance(a, Tensor) else a
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{which}(): dim must be one int (max/min along one dim return (values, indices)); for "
                        f"values over several dims use gn.a{which}(x, dim={tuple(dim)})")
    ax = canonical_dim(dim, arr.ndim, which)
    if not arr.ndim:  # a 0-d input: its one element, at index 0
        a, arr, keepdim = a.reshape(1), arr.reshape(1), False
    elif arr.shape[ax] == 0:
        raise IndexError(f"{which}(): expected reduction dim {dim} to have non-zero size (input shape "
                         f"{tuple(arr.shape)})")
    idx = arr.argmax(axis=ax) if which == "max" else arr.argmin(axis=ax)
    values = _Select.apply(a, idx=idx, axis=ax, keepdims=bool(keepdim))
    if keepdim:
        idx = idx.reshape(idx.shape[:ax] + (1,) + idx.shape[ax:])
    return getattr(return_types, which)(values, Tensor._make(idx, False, None))


# ====================================================================== public wrappers
def sum(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Σ over ``dim`` (int, tuple or None for all)."""
    return Sum.apply(a, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))


def mean(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Mean over ``dim``."""
    return Mean.apply(a, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))


def max(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """``max(x)``: the largest element (0-d). ``max(x, dim, keepdim=False)``: ``(values, indices)`` along
    ``dim``, a named tuple as ``torch.max``; the gradient goes to the returned index."""
    return _extremum(a, _dim(axis, dim), _kd(keepdims, keepdim), "max", _Max)


def min(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """``min(x)``: the smallest element. ``min(x, dim, keepdim=False)``: ``(values, indices)`` along ``dim``."""
    return _extremum(a, _dim(axis, dim), _kd(keepdims, keepdim), "min", _Min)


def _extremum(a, dim, keepdim, which, over_all):
    if dim is not None:
        return _along(a, dim, keepdim, which)
    if keepdim:
        raise TypeError(f"{which}(): keepdim needs a dim; for all elements with kept dims use gn.a{which}(x, "
                        f"dim=tuple(range(x.ndim)), keepdim=True)")
    return over_all.apply(a, axis=None, keepdims=False)


def amax(a, dim=None, keepdim=False):
    """The largest values over ``dim`` (an int, a tuple, or None for all); ties share the gradient evenly."""
    return _Max.apply(a, axis=dim if dim is None or isinstance(dim, int) else tuple(dim), keepdims=keepdim)


def amin(a, dim=None, keepdim=False):
    """The smallest values over ``dim``; ties share the gradient evenly."""
    return _Min.apply(a, axis=dim if dim is None or isinstance(dim, int) else tuple(dim), keepdims=keepdim)


def _dim(axis, dim):
    return dim if dim is not None else axis


def _kd(keepdims, keepdim):
    return keepdim if keepdim is not None else keepdims
