"""Elementwise differentiable ops: arithmetic (PyTorch's type promotion) and elementary functions.

Each op is a :class:`~gpunet.autograd.Function` with a hand-written vector-Jacobian product, written once
against ``xp`` (NumPy or CuPy). Broadcasting is undone by the engine, so ``backward`` may return gradients in
the broadcast shape. A binary op saves an operand only when the other one needs a gradient, so writing in place
into a tensor after using it in ``x * 3`` does not invalidate the graph.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ._dtypes import promote

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip", "clamp", "where"]


# ====================================================================== arithmetic
class Add(Function):
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        a, b = promote(a, b)
        return a + b

    def backward(self, xp, g):
        return g, g


class Sub(Function):
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        a, b = promote(a, b)
        return a - b

    def backward(self, xp, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    """d(a·b) = b·g for a, a·g for b: the gate swaps its operands."""
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        a, b = promote(a, b)
        na, nb = self.needs_input_grad
        if na:
            self.b = b
        if nb:
            self.a = a
        return a * b

    def backward(self, xp, g):
        na, nb = self.needs_input_grad
        return (g * self.b if na else None), (g * self.a if nb else None)


class Div(Function):
    """d(a/b) = g/b for a, −g·a/b² for b."""
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        a, b = promote(a, b)
        if getattr(a, "dtype", getattr(b, "dtype", None)).kind in "biu":  # true division of integers: floats
            a, b = promote(a, b, float_result=True)
        self.b = b
        if self.needs_input_grad[1]:
            self.a = a
        return a / b

    def backward(self, xp, g):
        na, nb = self.needs_input_grad
        ga = g / self.b if na else None
        gb = -g * self.a / (self.b * self.b) if nb else None
        return ga, gb


class Neg(Function):
    def forward(self, xp, a):
        return -a

    def backward(self, xp, g):
        return (-g,)


class Pow(Function):
    """d(aᵇ) = b·aᵇ⁻¹·g for a (0 where b = 0, also at a = 0), aᵇ·ln(a)·g for b (0 where a = 0 and b ≥ 0).

    These are PyTorch's formulas: at a = 0, d/da a⁰ = 0, d/da a¹ = 1, d/da a² = 0, d/da a⁻¹ = −inf; a negative
    base gives NaN for the exponent's gradient (ln a is not real there)."""
    arg_names = ("input", "exponent")

    def forward(self, xp, a, b):
        a, b = promote(a, b)
        out = a ** b
        na, nb = self.needs_input_grad
        if na or nb:
            self.a, self.b = a, b
        if nb:
            self.out = out
        return out

    def backward(self, xp, g):
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        ga = gb = None
        if na:
            if np.isscalar(b):
                ga = xp.zeros_like(g) if b == 0 else g * 2 * a if b == 2 else g * b * a ** (b - 1)
            else:
                ga = g * xp.where(b == 0, 0, b * a ** (b - 1))
        if nb:
            log_a = xp.log(a) if hasattr(a, "dtype") else np.log(a) if a > 0 else (0.0 if a == 0 else np.nan)
            gb = g * xp.where((a == 0) & (b >= 0), 0, self.out * log_a)
        return ga, gb


# ====================================================================== elementwise functions
class Exp(Function):
    def forward(self, xp, a):
        self.out = xp.exp(a)
        return self.out

    def backward(self, xp, g):
        return (g * self.out,)


class Log(Function):
    def forward(self, xp, a):
        self.a = a
        return xp.log(a)

    def backward(self, xp, g):
        return (g / self.a,)


class Sqrt(Function):
    def forward(self, xp, a):
        self.out = xp.sqrt(a)
        return self.out

    def backward(self, xp, g):
        return (g / (2 * self.out),)


class Abs(Function):
    """d|a| = sign(a)·g (0 at 0, as PyTorch)."""

    def forward(self, xp, a):
        self.a = a
        return xp.abs(a)

    def backward(self, xp, g):
        return (g * xp.sign(self.a),)


class Clip(Function):
    """Gradient passes where lo ≤ a ≤ hi (bounds included, as torch.clamp)."""

    def forward(self, xp, a, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of min and max")
        mask = None
        if lo is not None:
            mask = a >= lo
        if hi is not None:
            m = a <= hi
            mask = m if mask is None else mask & m
        self.mask = mask
        return xp.clip(a, lo, hi)

    def backward(self, xp, g):
        return (g * self.mask,)


class Where(Function):
    arg_names = ("condition", "input", "other")

    def forward(self, xp, cond, a, b):
        self.cond = cond
        a, b = promote(a, b)
        return xp.where(cond, a, b)

    def backward(self, xp, g):
        _, na, nb = self.needs_input_grad
        zero = xp.zeros((), dtype=g.dtype)
        return None, (xp.where(self.cond, g, zero) if na else None), (xp.where(self.cond, zero, g) if nb else None)


# ====================================================================== public wrappers
def add(a, b):
    """a + b (broadcasting)."""
    return Add.apply(a, b)


def sub(a, b):
    """a − b."""
    return Sub.apply(a, b)


def mul(a, b):
    """a · b (elementwise)."""
    return Mul.apply(a, b)


def div(a, b):
    """a / b."""
    return Div.apply(a, b)


def neg(a):
    """−a."""
    return Neg.apply(a)


def pow(a, b):
    """aᵇ (b a scalar or a tensor)."""
    return Pow.apply(a, b)


def exp(a):
    """eᵃ."""
    return Exp.apply(a)


def log(a):
    """Natural logarithm."""
    return Log.apply(a)


def sqrt(a):
    """√a."""
    return Sqrt.apply(a)


def abs(a):
    """|a|."""
    return Abs.apply(a)


def clip(a, min=None, max=None):
    """a clamped to [min, max]."""
    return Clip.apply(a, lo=min, hi=max)


clamp = clip


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` else of ``b``."""
    return Where.apply(condition, a, b)
