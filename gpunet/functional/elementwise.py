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

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip", "clamp", "where",
           "floor_divide", "remainder", "nan_to_num"]


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


def _no_integer_zero(fn, b, op):
    """Integer division by zero raises as torch raises on the CPU (``ZeroDivisionError``); NumPy would give 0.
    On the GPU the check runs on the device and reports at the next host read."""
    if getattr(b, "dtype", None) is not None:
        if b.dtype.kind in "biu":
            fn.backend.check_later((b == 0).any(), lambda: _zero_division(op))
    elif isinstance(b, int) and b == 0:
        _zero_division(op)


class IntegerDivisionByZero(ZeroDivisionError, RuntimeError):
    """Integer ``//`` or ``%`` by zero (a RuntimeError as in PyTorch, and a ZeroDivisionError as in Python)."""


def _zero_division(op):
    raise IntegerDivisionByZero(f"{op}: integer division by zero (ZeroDivisionError)")


def _kind(x) -> str:
    dt = getattr(x, "dtype", None)
    return dt.kind if dt is not None else "i" if isinstance(x, int) else "f"


def _integral(a, b) -> bool:
    return _kind(a) in "biu" and _kind(b) in "biu"


class FloorDivide(Function):
    """``a // b``: floor(a / b), as torch.floor_divide (integers stay integers). Not differentiable, as in
    PyTorch: the result of an input that requires grad records this op, whose backward raises."""
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        a, b = promote(a, b)
        if _integral(a, b):
            _no_integer_zero(self, b, "floor_divide")
        with np.errstate(divide="ignore", invalid="ignore"):  # float x // 0 is ±inf or nan, as torch (no warning)
            return xp.floor_divide(a, b)

    def backward(self, xp, g):
        raise RuntimeError("the derivative for 'floor_divide' is not implemented (as in PyTorch); detach the "
                           "inputs or use torch-style div(a, b) and floor outside the graph")


class Remainder(Function):
    """``a % b`` with the sign of ``b`` (Python's modulo, torch.remainder); d/da = 1, d/db = −floor(a / b)."""
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        a, b = promote(a, b)
        if _integral(a, b):
            _no_integer_zero(self, b, "remainder")
        if self.needs_input_grad[1]:
            self.a, self.b = a, b
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.remainder(a, b)

    def backward(self, xp, g):
        na, nb = self.needs_input_grad
        if not nb:
            return (g if na else None), None
        with np.errstate(divide="ignore", invalid="ignore"):
            return (g if na else None), -g * xp.floor_divide(self.a, self.b)


class NanToNum(Function):
    """NaN → ``nan``, +inf → ``posinf``, −inf → ``neginf`` (default: the dtype's largest/smallest finite value);
    the gradient passes where the input is finite (0 elsewhere), as torch."""

    def forward(self, xp, a, nan=0.0, posinf=None, neginf=None):
        if self.needs_input_grad[0]:
            self.finite = xp.isfinite(a)
        if a.dtype.kind not in "fc":
            return a.copy()
        return xp.nan_to_num(a, copy=True, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, xp, g):
        return (g * self.finite,)


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


def floor_divide(a, b):
    """``a // b``: floor(a / b) (floats stay floats, integers integers); not differentiable, as in PyTorch."""
    return FloorDivide.apply(a, b)


def remainder(a, b):
    """``a % b``, the sign of ``b`` (Python's modulo, torch.remainder); differentiable."""
    return Remainder.apply(a, b)


def nan_to_num(a, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and −inf replaced (by default by 0 and the dtype's largest and smallest finite values)."""
    return NanToNum.apply(a, nan=nan, posinf=posinf, neginf=neginf)


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
    """a clamped to [min, max]; bounds may be numbers or tensors (then differentiable in them too)."""
    if hasattr(min, "shape") or hasattr(max, "shape"):
        from .unary import clamp_tensor

        return clamp_tensor(a, min, max)
    return Clip.apply(a, lo=min, hi=max)


clamp = clip


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` else of ``b``."""
    return Where.apply(condition, a, b)
