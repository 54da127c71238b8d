"""The Tensor's operators and methods: arithmetic, comparisons, in-place writes, reductions, shape ops.

A mixin of :class:`~gpunet.autograd.tensor.Tensor`, kept apart from its core (storage, conversion, backward).
Every method hands its work to an op in :mod:`gpunet.functional` or to :mod:`.inplace`; none computes itself.
"""
from __future__ import annotations

from .. import backend as _backend
from . import inplace as _inplace
from ._dims import canonical_dim


class TensorMethods:
    __slots__ = ()

    # ----------------------------------------------------------------- operators (ops live in functional.math)
    def __add__(self, other):
        return _m().add(self, other)

    def __radd__(self, other):
        return _m().add(other, self)

    def __sub__(self, other):
        return _m().sub(self, other)

    def __rsub__(self, other):
        return _m().sub(other, self)

    def __mul__(self, other):
        return _m().mul(self, other)

    def __rmul__(self, other):
        return _m().mul(other, self)

    def __truediv__(self, other):
        return _m().div(self, other)

    def __rtruediv__(self, other):
        return _m().div(other, self)

    def __pow__(self, other):
        return _m().pow(self, other)

    def __rpow__(self, other):
        return _m().pow(other, self)

    def __matmul__(self, other):
        return _m().matmul(self, other)

    def __rmatmul__(self, other):
        return _m().matmul(other, self)

    def __neg__(self):
        return _m().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _m().abs(self)

    def __getitem__(self, index):
        return _m().getitem(self, index)

    def __setitem__(self, index, value):
        _inplace.setitem(self, index, value)

    # in-place arithmetic (autograd.inplace: version-counted, recorded in the graph when it needs to be)
    def __iadd__(self, other):
        return _inplace.apply_inplace(self, _m().Add, "+=", other)

    def __isub__(self, other):
        return _inplace.apply_inplace(self, _m().Sub, "-=", other)

    def __imul__(self, other):
        return _inplace.apply_inplace(self, _m().Mul, "*=", other)

    def __itruediv__(self, other):
        return _inplace.apply_inplace(self, _m().Div, "/=", other)

    def __ipow__(self, other):
        return _inplace.apply_inplace(self, _m().Pow, "**=", other)

    def add_(self, other, alpha=1):
        """self ← self + alpha · other, in place."""
        return _inplace.apply_inplace(self, _m().Add, "add_", other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        """self ← self − alpha · other, in place."""
        return _inplace.apply_inplace(self, _m().Sub, "sub_", other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return _inplace.apply_inplace(self, _m().Mul, "mul_", other)

    def div_(self, other):
        return _inplace.apply_inplace(self, _m().Div, "div_", other)

    def pow_(self, exponent):
        return _inplace.apply_inplace(self, _m().Pow, "pow_", exponent)

    def neg_(self):
        return _inplace.apply_inplace(self, _m().Neg, "neg_")

    def clamp_(self, min=None, max=None):
        return _inplace.apply_inplace(self, _m().Clip, "clamp_", lo=min, hi=max)

    clip_ = clamp_

    def fill_(self, value):
        """Every element ← ``value`` (a number or a one-element tensor, whose gradient is then the sum)."""
        _inplace.setitem(self, Ellipsis, value)
        return self

    def zero_(self):
        _inplace.setitem(self, Ellipsis, 0)
        return self

    def copy_(self, src):
        """self ← src (broadcast to self's shape, cast to self's dtype), in place; differentiable in ``src``."""
        if isinstance(src, TensorMethods) and src.device != self.device:
            src = src.to(self.device)
        _inplace.setitem(self, Ellipsis, src)
        return self

    # comparisons: no gradient, boolean results
    def _cmp(self, other, op):
        o = other.data if isinstance(other, TensorMethods) else other
        be = _backend.backend_of((self.data, o), op)
        return type(self)._make(getattr(be.xp, op)(self.data, o), False, None)

    def __lt__(self, other):
        return self._cmp(other, "less")

    def __le__(self, other):
        return self._cmp(other, "less_equal")

    def __gt__(self, other):
        return self._cmp(other, "greater")

    def __ge__(self, other):
        return self._cmp(other, "greater_equal")

    def __eq__(self, other):
        return self._cmp(other, "equal")

    def __ne__(self, other):
        return self._cmp(other, "not_equal")

    __hash__ = object.__hash__

    # ----------------------------------------------------------------- methods
    def sum(self, axis=None, keepdims=False, dim=None, keepdim=None):
        return _m().sum(self, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))

    def mean(self, axis=None, keepdims=False, dim=None, keepdim=None):
        return _m().mean(self, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))

    def max(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """``x.max()``: the largest element; ``x.max(dim)``: the named tuple ``(values, indices)``, as torch."""
        return _m().max(self, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))

    def min(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """``x.min()``: the smallest element; ``x.min(dim)``: the named tuple ``(values, indices)``."""
        return _m().min(self, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))

    def amax(self, dim=None, keepdim=False):
        return _m().amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return _m().amin(self, dim, keepdim)

    def argmax(self, axis=None, dim=None, keepdim=False):
        return self._arg("argmax", _dim(axis, dim), keepdim)

    def argmin(self, axis=None, dim=None, keepdim=False):
        return self._arg("argmin", _dim(axis, dim), keepdim)

    def _arg(self, op, dim, keepdim):
        a = self.data
        if dim is None:
            if a.size == 0:
                raise RuntimeError(f"{op}(): expected a dim for an empty input (shape {tuple(a.shape)})")
            return type(self)._make(getattr(a, op)(), False, None)
        ax = canonical_dim(dim, a.ndim, op)
        if not a.ndim:
            return type(self)._make(getattr(a.reshape(1), op)(axis=0), False, None)
        if a.shape[ax] == 0:
            raise IndexError(f"{op}(): expected reduction dim {dim} to have non-zero size (input shape "
                             f"{tuple(a.shape)})")
        return type(self)._make(getattr(a, op)(axis=ax, keepdims=bool(keepdim)), False, None)

    def exp(self):
        return _m().exp(self)

    def log(self):
        return _m().log(self)

    def sqrt(self):
        return _m().sqrt(self)

    def abs(self):
        return _m().abs(self)

    def clip(self, min=None, max=None):
        return _m().clip(self, min, max)

    clamp = clip

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _m().reshape(self, shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        s = self.shape
        start = canonical_dim(start_dim, len(s), "flatten")
        end = canonical_dim(end_dim, len(s), "flatten")
        if not s:
            return self.reshape(1)
        if start > end:
            raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        n = 1
        for d in s[start:end + 1]:
            n *= d
        return self.reshape(s[:start] + (n,) + s[end + 1:])

    def unsqueeze(self, dim: int):
        s = list(self.shape)
        s.insert(canonical_dim(dim, len(s), "unsqueeze", extra=1), 1)
        return self.reshape(tuple(s))

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(d for d in self.shape if d != 1))
        dim = canonical_dim(dim, self.ndim, "squeeze")
        if not self.ndim or self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:])

    def transpose(self, *axes):
        """``t.transpose()`` reverses the axes; ``t.transpose(d0, d1)`` swaps two (as torch)."""
        n = self.ndim
        if not axes:
            perm = tuple(range(n - 1, -1, -1))
        elif len(axes) == 2:
            perm = list(range(n))
            a, b = canonical_dim(axes[0], n, "transpose"), canonical_dim(axes[1], n, "transpose")
            if not n:
                return self
            perm[a], perm[b] = perm[b], perm[a]
            perm = tuple(perm)
        else:
            raise TypeError("transpose() takes no argument or two dims; use permute(*dims) for a full order")
        return _m().transpose(self, perm)

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _m().transpose(self, dims)

    def relu(self):
        from ..functional import activation

        return activation.relu(self)

    def sigmoid(self):
        from ..functional import activation

        return activation.sigmoid(self)

    def tanh(self):
        from ..functional import activation

        return activation.tanh(self)

    def softmax(self, dim=-1):
        from ..functional import activation

        return activation.softmax(self, dim)



def _dim(axis, dim):
    return dim if dim is not None else axis


def _kd(keepdims, keepdim):
    return keepdim if keepdim is not None else keepdims


_MATH = None


def _m():
    global _MATH
    if _MATH is None:
        from ..functional import math

        _MATH = math
    return _MATH
