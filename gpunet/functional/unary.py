"""More elementwise ops with torch's gradients: sin, cos, log1p, expm1, rsqrt, reciprocal, square, sign, the
rounding family (floor, ceil, round, trunc: gradient 0), maximum/minimum (ties share the gradient, as torch) and
clamp_min/clamp_max, clamp with tensor bounds."""
from __future__ import annotations

from ..autograd.function import Function
from ._dtypes import promote

__all__ = ["sin", "cos", "log1p", "expm1", "rsqrt", "reciprocal", "square", "sign", "floor", "ceil", "round",
           "trunc", "maximum", "minimum", "clamp_min", "clamp_max", "clamp_tensor"]


class _Unary(Function):
    """One input, ``y = f(x)``; subclasses give ``f`` and the derivative from what they keep."""

    def forward(self, xp, x):
        return self.f(xp, x)


class Sin(_Unary):
    def f(self, xp, x):
        self.x = x
        return xp.sin(x)

    def backward(self, xp, g):
        return (g * xp.cos(self.x),)


class Cos(_Unary):
    def f(self, xp, x):
        self.x = x
        return xp.cos(x)

    def backward(self, xp, g):
        return (-g * xp.sin(self.x),)


class Log1p(_Unary):
    def f(self, xp, x):
        self.x = x
        return xp.log1p(x)

    def backward(self, xp, g):
        return (g / (1 + self.x),)


class Expm1(_Unary):
    def f(self, xp, x):
        self.y = xp.expm1(x)
        return self.y

    def backward(self, xp, g):
        return (g * (self.y + 1),)


class Rsqrt(_Unary):
    """1/√x; derivative −½·x^(−3/2) = −½·y³."""

    def f(self, xp, x):
        self.y = 1 / xp.sqrt(x)
        return self.y

    def backward(self, xp, g):
        y = self.y
        return (g * (-0.5) * y * y * y,)


class Reciprocal(_Unary):
    """1/x; derivative −1/x² = −y²."""

    def f(self, xp, x):
        self.y = 1 / x
        return self.y

    def backward(self, xp, g):
        return (-g * self.y * self.y,)


class Square(_Unary):
    def f(self, xp, x):
        self.x = x
        return x * x

    def backward(self, xp, g):
        return (2 * self.x * g,)


class _ZeroGrad(_Unary):
    """A piecewise-constant function: the gradient is 0 everywhere (as torch's sign/floor/ceil/round/trunc)."""
    fn = "sign"

    def f(self, xp, x):
        return getattr(xp, self.fn)(x)

    def backward(self, xp, g):
        return (xp.zeros_like(g),)


class Sign(_ZeroGrad):
    fn = "sign"


class Floor(_ZeroGrad):
    fn = "floor"


class Ceil(_ZeroGrad):
    fn = "ceil"


class Trunc(_ZeroGrad):
    fn = "trunc"


class Round(_ZeroGrad):
    """Round half to even (as torch); ``decimals`` as torch.round."""

    def forward(self, xp, x, decimals=0):
        return xp.round(x, decimals)


class _Extremum2(Function):
    """maximum/minimum of two tensors: the gradient goes to the larger (smaller) one, halved on ties (torch)."""
    arg_names = ("input", "other")
    op = "maximum"

    def forward(self, xp, a, b):
        a, b = promote(a, b)
        out = getattr(xp, self.op)(a, b)
        self.a, self.b = a, b
        return out

    def backward(self, xp, g):
        a, b = self.a, self.b
        win = (a > b) if self.op == "maximum" else (a < b)
        tie = a == b
        wa = win + 0.5 * tie
        wb = (~win & ~tie) + 0.5 * tie
        na, nb = self.needs_input_grad
        return (g * wa if na else None), (g * wb if nb else None)


class Maximum(_Extremum2):
    op = "maximum"


class Minimum(_Extremum2):
    op = "minimum"


class ClampBounds(Function):
    """clamp(x, lo, hi) = min(max(x, lo), hi) with bounds that may be tensors; the gradient as torch's:
    x where not (x < lo or x > hi); lo where x < lo and lo < hi; hi where x > hi or hi < lo."""
    arg_names = ("input", "min", "max")

    def forward(self, xp, x, lo, hi):
        out = x
        self.below = x < lo if lo is not None else None
        self.above = x > hi if hi is not None else None
        both = lo is not None and hi is not None
        self.ordered, self.crossed = (lo < hi, hi < lo) if both else (None, None)
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return out

    def backward(self, xp, g):
        nx, nlo, nhi = self.needs_input_grad
        below, above, ok, crossed = self.below, self.above, self.ordered, self.crossed
        gx = glo = ghi = None
        if nx:
            out = below if above is None else above if below is None else below | above
            gx = g * ~out
        if nlo:
            glo = g * (below if ok is None else below & ok)
        if nhi:
            ghi = g * (above if crossed is None else above | crossed)
        return gx, glo, ghi


# ====================================================================== public wrappers
def sin(a):
    return Sin.apply(a)


def cos(a):
    return Cos.apply(a)


def log1p(a):
    """log(1 + x), accurate for small x."""
    return Log1p.apply(a)


def expm1(a):
    """eˣ − 1, accurate for small x."""
    return Expm1.apply(a)


def rsqrt(a):
    return Rsqrt.apply(a)


def reciprocal(a):
    return Reciprocal.apply(a)


def square(a):
    return Square.apply(a)


def sign(a):
    return Sign.apply(a)


def floor(a):
    return Floor.apply(a)


def ceil(a):
    return Ceil.apply(a)


def round(a, decimals: int = 0):
    return Round.apply(a, decimals=int(decimals))


def trunc(a):
    return Trunc.apply(a)


def maximum(a, b):
    """Elementwise max of two tensors (broadcasting); ties share the gradient."""
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


def clamp_min(a, min):
    return clamp_tensor(a, min, None)


def clamp_max(a, max):
    return clamp_tensor(a, None, max)


def clamp_tensor(a, min=None, max=None):
    """clamp with bounds that may be tensors (differentiable in them) or numbers."""
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    return ClampBounds.apply(a, min, max)
