"""The Tensor's math methods beyond the operators: elementary functions, extrema, reductions, sorting and
products, each bound to the op of the same name in :mod:`gpunet.functional.math` (a mixin of Tensor)."""
from __future__ import annotations

import numpy as np

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

    # ----------------------------------------------------------------- in-place fills and scatters
    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        """Fill with samples of N(mean, std²), in place (version-counted; the gradient through it is 0)."""
        return _fill_random(self, "normal_", lambda be, s, dt: be.randn(s, dt) * std + mean, generator)

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        """Fill with samples of U(a, b), in place."""
        return _fill_random(self, "uniform_", lambda be, s, dt: be.rand(s, dt) * (b - a) + a, generator)

    def exponential_(self, lambd=1.0, *, generator=None):
        """Fill with samples of the exponential distribution of rate ``lambd``, in place."""
        def draw(be, s, dt):
            return -be.xp.log1p(-be.rand(s, dt)) / lambd
        return _fill_random(self, "exponential_", draw, generator)

    def bernoulli_(self, p=0.5, *, generator=None):
        """Fill with 1 (probability ``p``, a number or a tensor broadcast to self) or 0, in place."""
        pd = p.data if hasattr(p, "grad_fn") else p

        def draw(be, s, dt):
            return (be.rand(s, np.float64 if dt == np.float64 else np.float32) < pd).astype(dt)
        return _fill_random(self, "bernoulli_", draw, generator, floats_only=False)

    def masked_fill_(self, mask, value):
        return _ix().masked_fill_(self, mask, value)

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        return _ix().scatter_(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add_(self, dim, index, src):
        return _ix().scatter_add_(self, dim, index, src)

    def index_add_(self, dim, index, source, *, alpha=1):
        return _ix().index_add_(self, dim, index, source, alpha=alpha)

    def index_add(self, dim, index, source, *, alpha=1):
        return _ix().index_add(self, dim, index, source, alpha=alpha)

    def index_fill_(self, dim, index, value):
        return _ix().index_fill_(self, dim, index, value)

    def norm(self, p=2, dim=None, keepdim=False):
        from ..functional.nn_misc import norm

        return norm(self, p, dim, keepdim)


def _ix():
    from ..functional import indexing

    return indexing


def _fill_random(t, op, draw, generator, floats_only=True):
    """``t[...] = draw(backend, shape, dtype)``: a version-counted write (recorded when ``t`` is in a graph, where
    its gradient is 0, as torch's)."""
    from . import inplace

    if generator is not None:
        raise NotImplementedError(f"{op}(generator=...) is not supported; seed with gn.manual_seed")
    dt = t.data.dtype
    if floats_only and dt.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point tensor, got {dt}")
    be = t.backend
    vals = draw(be, tuple(t.shape), dt)
    inplace.setitem(t, Ellipsis, vals.astype(dt, copy=False))
    return t


def _unary(name: str):
    def method(self):
        return getattr(_m(), name)(self)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``gn.{name}(self)``."
    return method


for _name in ("sin", "cos", "log1p", "expm1", "rsqrt", "reciprocal", "square", "sign", "floor", "ceil", "trunc"):
    setattr(TensorMath, _name, _unary(_name))
