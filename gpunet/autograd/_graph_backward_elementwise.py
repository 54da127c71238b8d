"""``backward_graph`` of the elementwise ops (functional.elementwise and functional.unary): the vector-Jacobian
products of their ``backward``, written with gpunet ops on the input Tensors so that they differentiate again."""
from __future__ import annotations

import math

import numpy as np

from ..functional import elementwise as E
from ..functional import unary as U
from ..functional.math import cos, exp, log, mul, rsqrt, sin, sqrt, where
from ._graph_backward import const, not_implemented
from ._graph_backward import input_tensor as inp


def _add(self, g):
    return g, g


def _sub(self, g):
    return g, (-g if self.needs_input_grad[1] else None)


def _mul(self, g):
    na, nb = self.needs_input_grad
    return (mul(g, inp(self, 1, self.__dict__.get("b"))) if na else None,
            mul(g, inp(self, 0, self.__dict__.get("a"))) if nb else None)


def _div(self, g):
    na, nb = self.needs_input_grad
    b = inp(self, 1, self.b)
    ga = g / b if na else None
    gb = -g * inp(self, 0, self.__dict__.get("a")) / (b * b) if nb else None
    return ga, gb


def _neg(self, g):
    return (-g,)


def _pow(self, g):
    na, nb = self.needs_input_grad
    a, b = inp(self, 0, self.a), inp(self, 1, self.b)
    ga = gb = None
    if na:
        if np.isscalar(b):
            ga = g * 0.0 if b == 0 else g * b * a ** (b - 1)
        else:
            bd = b.data if hasattr(b, "data") else b
            ga = g * where(const(self, bd == 0), 0.0, b * a ** (b - 1))
    if nb:
        out = a ** b
        ad = a.data if hasattr(a, "data") else a
        if hasattr(a, "grad_fn"):
            log_a = log(a)
        else:
            log_a = math.log(a) if a > 0 else (0.0 if a == 0 else float("nan"))
        bd = b.data
        zero = (ad == 0) & (bd >= 0)
        gb = g * where(const(self, zero), 0.0, out * log_a)
    return ga, gb


def _remainder(self, g):
    na, nb = self.needs_input_grad
    if not nb:
        return (g if na else None), None
    with np.errstate(divide="ignore", invalid="ignore"):
        q = self.backend.xp.floor_divide(self.a, self.b)
    return (g if na else None), -g * const(self, q)


def _masked(attr):
    def backward_graph(self, g):
        return (g * const(self, getattr(self, attr)),)
    return backward_graph


def _exp(self, g):
    return (g * exp(inp(self, 0)),)


def _log(self, g):
    return (g / inp(self, 0, self.a),)


def _sqrt(self, g):
    return (g / (2 * sqrt(inp(self, 0))),)


def _abs(self, g):
    return (g * const(self, self.backend.xp.sign(self.a)),)


def _where(self, g):
    _, na, nb = self.needs_input_grad
    c = const(self, self.cond)
    return None, (where(c, g, 0.0) if na else None), (where(c, 0.0, g) if nb else None)


def _sin(self, g):
    return (g * cos(inp(self, 0, self.x)),)


def _cos(self, g):
    return (-g * sin(inp(self, 0, self.x)),)


def _log1p(self, g):
    return (g / (1 + inp(self, 0, self.x)),)


def _expm1(self, g):
    return (g * exp(inp(self, 0)),)


def _rsqrt(self, g):
    y = rsqrt(inp(self, 0))
    return (g * (-0.5) * y * y * y,)


def _reciprocal(self, g):
    x = inp(self, 0)
    return (-g / (x * x),)


def _square(self, g):
    return (2 * inp(self, 0, self.x) * g,)


def _zero(self, g):
    return (g * 0.0,)


def _extremum2(self, g):
    a, b = self.a, self.b
    win = (a > b) if self.op == "maximum" else (a < b)
    tie = a == b
    na, nb = self.needs_input_grad
    return ((g * const(self, win + 0.5 * tie)) if na else None,
            (g * const(self, (~win & ~tie) + 0.5 * tie)) if nb else None)


def _clamp_bounds(self, g):
    nx, nlo, nhi = self.needs_input_grad
    below, above, ok, crossed = self.below, self.above, self.ordered, self.crossed
    gx = glo = ghi = None
    if nx:
        out = below if above is None else above if below is None else below | above
        gx = g * const(self, ~out)
    if nlo:
        glo = g * const(self, below if ok is None else below & ok)
    if nhi:
        ghi = g * const(self, above if crossed is None else above | crossed)
    return gx, glo, ghi


def _floor_divide(self, g):
    not_implemented(self)


_METHODS = {
    E.Add: _add, E.Sub: _sub, E.Mul: _mul, E.Div: _div, E.Neg: _neg, E.Pow: _pow, E.Remainder: _remainder,
    E.NanToNum: _masked("finite"), E.Exp: _exp, E.Log: _log, E.Sqrt: _sqrt, E.Abs: _abs, E.Clip: _masked("mask"),
    E.Where: _where, U.Sin: _sin, U.Cos: _cos, U.Log1p: _log1p, U.Expm1: _expm1, U.Rsqrt: _rsqrt,
    U.Reciprocal: _reciprocal, U.Square: _square, U._ZeroGrad: _zero, U._Extremum2: _extremum2,
    U.ClampBounds: _clamp_bounds,
}
for _cls, _m in _METHODS.items():
    _cls.backward_graph = _m
