"""The Tensor's operators and methods: arithmetic, comparisons, in-place writes, reductions, shape ops.

A mixin of :class:`~gpunet.autograd.tensor.Tensor`, kept apart from its core (storage, conversion, backward);
sizes, casts and ``new_*`` are in :mod:`._tensor_convert`. Every method hands its work to an op in
:mod:`gpunet.functional` (comparisons, bitwise operators and predicates: :mod:`gpunet.functional.logical`) or to
:mod:`.inplace`; none computes itself.
"""
from __future__ import annotations

from . import inplace as _inplace
from ._dims import canonical_dim
from ._tensor_convert import TensorConvert
from ._tensor_indexing import TensorIndexing
from ._tensor_math import TensorMath, _m


class TensorMethods(TensorConvert, TensorMath, TensorIndexing):
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

    def __floordiv__(self, other):
        return _m().floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _m().floor_divide(other, self)

    def __mod__(self, other):
        return _m().remainder(self, other)

    def __rmod__(self, other):
        return _m().remainder(other, self)

    def __and__(self, other):
        return _lg().bitwise_and(self, other)

    def __rand__(self, other):
        return _lg().bitwise_and(other, self)

    def __or__(self, other):
        return _lg().bitwise_or(self, other)

    def __ror__(self, other):
        return _lg().bitwise_or(other, self)

    def __xor__(self, other):
        return _lg().bitwise_xor(self, other)

    def __rxor__(self, other):
        return _lg().bitwise_xor(other, self)

    def __invert__(self):
        return _lg().bitwise_not(self)

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

    # comparisons and predicates: no gradient, bool results (functional.logical)
    def __lt__(self, other):
        return _lg().lt(self, other)

    def __le__(self, other):
        return _lg().le(self, other)

    def __gt__(self, other):
        return _lg().gt(self, other)

    def __ge__(self, other):
        return _lg().ge(self, other)

    def __eq__(self, other):
        return _lg().eq(self, other)

    def __ne__(self, other):
        return _lg().ne(self, other)

    __hash__ = object.__hash__
    lt = less = __lt__
    le = less_equal = __le__
    gt = greater = __gt__
    ge = greater_equal = __ge__
    eq = __eq__
    ne = not_equal = __ne__
    bitwise_and = __and__
    bitwise_or = __or__
    bitwise_xor = __xor__
    bitwise_not = __invert__
    floor_divide = __floordiv__
    remainder = __mod__

    def isnan(self):
        return _lg().isnan(self)

    def isinf(self):
        return _lg().isinf(self)

    def isfinite(self):
        return _lg().isfinite(self)

    def any(self, dim=None, keepdim=False):
        return _lg().any(self, dim, keepdim)

    def all(self, dim=None, keepdim=False):
        return _lg().all(self, dim, keepdim)

    def count_nonzero(self, dim=None):
        return _lg().count_nonzero(self, dim)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _lg().allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other):
        return _lg().equal(self, other)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return _m().nan_to_num(self, nan, posinf, neginf)

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
        if hasattr(min, "shape") or hasattr(max, "shape"):  # tensor bounds: differentiable in them too
            return _m().clamp_tensor(self, min, max)
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


_LOGICAL = None


def _lg():
    global _LOGICAL
    if _LOGICAL is None:
        from ..functional import logical

        _LOGICAL = logical
    return _LOGICAL


