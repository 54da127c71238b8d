"""More of torch's activations: relu6, selu, mish, hardswish, logsigmoid, glu and prelu (a learnt slope).

Each is one Function with its vector-Jacobian product written against ``xp``; ``inplace=True`` (where torch has
it) writes into the input as a recorded, version-counted write.
"""
from __future__ import annotations

from ..autograd._dims import canonical_dim
from ..autograd.function import Function
from . import _act_math as am
from .activation import _apply, hardtanh

__all__ = ["relu6", "selu", "mish", "hardswish", "logsigmoid", "glu", "prelu", "softsign", "threshold"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _softplus(xp, x):
    """log(1 + eˣ), stable for any x."""
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


class SELU(Function):
    """selu(x) = λ·x for x > 0, λα(eˣ − 1) else; derivative λ, or λαeˣ = selu(x) + λα."""

    def forward(self, xp, x):
        pos = x > 0
        y = xp.where(pos, x, _SELU_ALPHA * xp.expm1(xp.minimum(x, 0))) * _SELU_SCALE
        self.pos, self.y = pos, y
        return y.astype(x.dtype, copy=False)

    def backward(self, xp, g):
        return (xp.where(self.pos, g * _SELU_SCALE, g * (self.y + _SELU_SCALE * _SELU_ALPHA)),)


class Mish(Function):
    """mish(x) = x·tanh(softplus(x)); derivative t + x·σ(x)·(1 − t²), t = tanh(softplus(x))."""

    def forward(self, xp, x):
        t = xp.tanh(_softplus(xp, x))
        self.x, self.t = x, t
        return x * t

    def backward(self, xp, g):
        x, t = self.x, self.t
        return (g * (t + x * am.sigmoid(xp, x) * (1 - t * t)),)


class Hardswish(Function):
    """hardswish(x) = x·min(max(x + 3, 0), 6)/6; derivative 0 below −3, x/3 + ½ up to 3, 1 above (as torch)."""

    def forward(self, xp, x):
        self.x = x
        return x * xp.clip(x + 3, 0, 6) / 6

    def backward(self, xp, g):
        x = self.x
        return (xp.where(x < -3, 0, xp.where(x <= 3, g * (x / 3 + 0.5), g)).astype(g.dtype, copy=False),)


class LogSigmoid(Function):
    """logsigmoid(x) = −softplus(−x), stable; derivative σ(−x)."""

    def forward(self, xp, x):
        self.x = x
        return -_softplus(xp, -x)

    def backward(self, xp, g):
        return (g * am.sigmoid(xp, -self.x),)


class GLU(Function):
    """glu(x) = a ⊙ σ(b), with a and b the two halves of x along ``axis``; grads g·σ(b) and g·a·σ(b)(1 − σ(b))."""

    def forward(self, xp, x, axis=-1):
        a, b = xp.split(x, 2, axis=axis)
        s = am.sigmoid(xp, b)
        self.a, self.s, self.axis = a, s, axis
        return a * s

    def backward(self, xp, g):
        s = self.s
        return (xp.concatenate([g * s, g * self.a * s * (1 - s)], axis=self.axis),)


class PReLU(Function):
    """prelu(x, w) = x for x > 0, w·x else, w one slope per channel (dim 1) or one for all; grads
    g·(1 or w) for x and Σ g·x over x ≤ 0 (summed to w's shape by the engine) for w."""
    arg_names = ("input", "weight")

    def forward(self, xp, x, w, shape=None):
        wb = w.reshape(shape)
        pos = x > 0
        self.pos, self.wb = pos, wb
        if self.needs_input_grad[1]:
            self.x = x
        return xp.where(pos, x, wb * x)

    def backward(self, xp, g):
        need_x, need_w = self.needs_input_grad
        gx = xp.where(self.pos, g, self.wb * g) if need_x else None
        gw = None
        if need_w:
            gw = xp.where(self.pos, 0, g * self.x)
            keep = tuple(i for i, n in enumerate(self.wb.shape) if n == 1 and gw.shape[i] != 1)
            gw = gw.sum(axis=keep, keepdims=True).reshape(-1) if keep else gw.reshape(-1)
        return gx, gw


# ====================================================================== public wrappers
def relu6(input, inplace: bool = False):
    """relu6(x) = min(max(x, 0), 6) (hardtanh on [0, 6]; gradient 0 at and beyond the bounds, as torch)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def selu(input, inplace: bool = False):
    """selu(x) = λ·(max(0, x) + min(0, α(eˣ − 1))), α ≈ 1.6733, λ ≈ 1.0507 (self-normalising)."""
    return _apply(SELU, "selu", input, inplace)


def mish(input, inplace: bool = False):
    """mish(x) = x·tanh(softplus(x))."""
    return _apply(Mish, "mish", input, inplace)


def hardswish(input, inplace: bool = False):
    """hardswish(x) = x·relu6(x + 3)/6."""
    return _apply(Hardswish, "hardswish", input, inplace)


def logsigmoid(input):
    """logsigmoid(x) = log σ(x) = −softplus(−x)."""
    return LogSigmoid.apply(input)


def glu(input, dim: int = -1):
    """glu(x) = a ⊙ σ(b), a and b the first and second halves of ``x`` along ``dim`` (its size must be even)."""
    axis = canonical_dim(dim, input.ndim, "glu")
    if input.ndim == 0 or input.shape[axis] % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {dim} of shape "
                           f"{tuple(input.shape)} is size {input.shape[axis] if input.ndim else 0}")
    return GLU.apply(input, axis=axis)


def prelu(input, weight):
    """prelu(x, w) = x where x > 0, else w·x; ``weight`` has one element (shared) or one per channel (dim 1)."""
    n = weight.size
    if n != 1:
        if input.ndim < 2 or input.shape[1] != n:
            raise RuntimeError(f"prelu: weight has {n} elements, so the input needs {n} channels in dim 1, got "
                               f"shape {tuple(input.shape)}; use num_parameters=1 or match the channels")
        shape = (1, n) + (1,) * (input.ndim - 2)
    else:
        shape = (1,) * max(input.ndim, 1) if input.ndim else ()
    return PReLU.apply(input, weight, shape=shape)


def softsign(input):
    """x / (1 + |x|)."""
    from .math import abs as _abs

    return input / (1 + _abs(input))


def threshold(input, threshold: float, value: float, inplace: bool = False):
    """x where x > ``threshold``, else ``value``, as ``torch.nn.functional.threshold``."""
    from .math import where

    if inplace:
        raise NotImplementedError("threshold: inplace=True is not supported; use the result (y = F.threshold(x, ...))")
    return where(input > threshold, input, float(value))
