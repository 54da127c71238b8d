"""The Tensor's math methods beyond the operators: elementary functions, extrema, reductions, sorting and
products, each bound to the op of the same name in :mod:`gpunet.functional.math` (a mixin of Tensor)."""
from __future__ import annotations

_MATH = None


def _m():
    global _MATH
    if _MATH is None:
        from ..functional import math

        _MATH = math
    return _MATH


class TensorMath:
    __slots__ = ()

    def maximum(self, other):
        return _m().maximum(self, other)

    def minimum(self, other):
        return _m().minimum(self, other)

    def clamp_min(self, min):
        return _m().clamp_min(self, min)

    def clamp_max(self, max):
        return _m().clamp_max(self, max)

    def round(self, decimals: int = 0):
        return _m().round(self, decimals)

    def var(self, dim=None, *, correction=1, keepdim=False, unbiased=None):
        return _m().var(self, dim, correction=correction, keepdim=keepdim, unbiased=unbiased)

    def std(self, dim=None, *, correction=1, keepdim=False, unbiased=None):
        return _m().std(self, dim, correction=correction, keepdim=keepdim, unbiased=unbiased)

    def logsumexp(self, dim, keepdim=False):
        return _m().logsumexp(self, dim, keepdim)

    def prod(self, dim=None, keepdim=False):
        return _m().prod(self, dim, keepdim)

    def cumsum(self, dim):
        return _m().cumsum(self, dim)

    def cumprod(self, dim):
        return _m().cumprod(self, dim)

    def sort(self, dim=-1, descending=False, stable=False):
        return _m().sort(self, dim, descending, stable)

    def argsort(self, dim=-1, descending=False, stable=False):
        return _m().argsort(self, dim, descending, stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return _m().topk(self, k, dim, largest, sorted)

    def mm(self, other):
        return _m().mm(self, other)

    def bmm(self, other):
        return _m().bmm(self, other)

    def outer(self, other):
        return _m().outer(self, other)

    def norm(self, p=2, dim=None, keepdim=False):
        from ..functional.nn_misc import norm

        return norm(self, p, dim, keepdim)


def _unary(name: str):
    def method(self):
        return getattr(_m(), name)(self)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``gn.{name}(self)``."
    return method


for _name in ("sin", "cos", "log1p", "expm1", "rsqrt", "reciprocal", "square", "sign", "floor", "ceil", "trunc"):
    setattr(TensorMath, _name, _unary(_name))
