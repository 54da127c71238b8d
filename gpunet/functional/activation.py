"""Activation functions: each one :class:`~gpunet.autograd.Function` with a hand-written vector-Jacobian product.

The formulas the fused linear op also uses (ReLU, leaky ReLU, sigmoid, tanh, GELU, SiLU, identity) live in
:mod:`gpunet.functional._act_math`, one place for each; the ops here call them. What forward keeps is the
cheapest thing the derivative needs: a mask (ReLU, hardtanh), the output (sigmoid, tanh, ELU, softmax) or the
input (GELU, SiLU, softplus).

``_softmax`` and ``_log_softmax`` (raw-array helpers, numerically stable) are shared with :mod:`.loss`.
"""
from __future__ import annotations

from typing import Literal

from ..autograd.function import Function
from ..autograd._dims import canonical_dim
from . import _act_math as am
from .math import cast

__all__ = ["step", "identity", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "silu", "softplus",
           "hardtanh", "softmax", "log_softmax", "maxout"]


# ====================================================================== raw-array helpers
def _axis(dim: int, ndim: int, op: str):
    """``dim`` as a non-negative axis (``None`` for a 0-d input); IndexError when out of range."""
    d = canonical_dim(dim, ndim, op)
    return d if ndim else None


def _apply(fn_cls, op: str, input, inplace: bool, **params):
    """``fn_cls`` on ``input``; with ``inplace``, the result written into ``input``'s memory (a recorded,
    version-counted write: autograd.inplace), as torch's ``inplace=True``."""
    if inplace:
        from ..autograd.inplace import apply_inplace

        if not hasattr(input, "grad_fn"):
            raise TypeError(f"{op}(inplace=True): the input must be a Tensor, got {type(input).__name__}")
        return apply_inplace(input, fn_cls, f"{op}_", **params)
    return fn_cls.apply(input, **params)


def _softmax(xp, x, axis):
    """exp(x − max) / Σ exp(x − max) along ``axis``: never exponentiates a positive number."""
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _log_softmax(xp, x, axis):
    """(x − max) − log Σ exp(x − max) along ``axis``."""
    s = x - x.max(axis=axis, keepdims=True)
    s -= xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
    return s


# ====================================================================== Functions
class _Shared(Function):
    """An activation whose formula is in :mod:`._act_math` (shared with the fused linear op)."""

    act = "identity"
    arg_names = ("input",)

    def forward(self, xp, x, alpha=0.01):
        self.alpha = alpha
        y, self.saved = self.backend.activation_forward(self.act, x, alpha)
        return y

    def backward(self, xp, g):
        return (self.backend.activation_backward(self.act, self.saved, g, self.alpha),)


class Identity(_Shared):
    act = "identity"


class ReLU(_Shared):
    act = "relu"


class LeakyReLU(_Shared):
    act = "leaky_relu"


class Sigmoid(_Shared):
    act = "sigmoid"


class Tanh(_Shared):
    act = "tanh"


class GELU(_Shared):
    act = "gelu"


class GELUTanh(_Shared):
    act = "gelu_tanh"


class SiLU(_Shared):
    act = "silu"


class Step(Function):
    """Heaviside step: 1 where x ≥ 0 else 0; the derivative is 0 everywhere (it is not the identity)."""

    def forward(self, xp, x):
        return (x >= 0).astype(x.dtype)

    def backward(self, xp, g):
        return (xp.zeros_like(g),)


class ELU(Function):
    """Keeps the output y and the mask x > 0: dy/dx = 1 there, α·eˣ = y + α elsewhere."""

    def forward(self, xp, x, alpha=1.0):
        mask = x > 0
        y = xp.where(mask, x, alpha * xp.expm1(xp.minimum(x, 0)))
        self.mask, self.y, self.alpha = mask, y, alpha
        return y

    def backward(self, xp, g):
        return (xp.where(self.mask, g, g * (self.y + self.alpha)),)


class Softplus(Function):
    """Keeps the input: the derivative is σ(βx), or 1 where βx > threshold (the linear region)."""

    def forward(self, xp, x, beta=1.0, threshold=20.0):
        bx = x * beta
        linear = bx > threshold
        soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta
        self.bx, self.linear, self.beta = bx, linear, beta
        return xp.where(linear, x, soft).astype(x.dtype, copy=False)

    def backward(self, xp, g):
        return (xp.where(self.linear, g, g * am.sigmoid(xp, self.bx)),)


class Hardtanh(Function):
    """Keeps the mask min_val < x < max_val, where the gradient passes (0 at and beyond the bounds, as torch)."""

    def forward(self, xp, x, min_val=-1.0, max_val=1.0):
        self.mask = (x > min_val) & (x < max_val)
        return xp.clip(x, min_val, max_val)

    def backward(self, xp, g):
        return (g * self.mask,)


class Softmax(Function):
    """Keeps the output y: dx = y ⊙ (g − Σ_dim g ⊙ y)."""

    def forward(self, xp, x, axis=-1):
        self.axis = axis
        self.y = _softmax(xp, x, axis)
        return self.y

    def backward(self, xp, g):
        y = self.y
        return (y * (g - (g * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """Keeps the output y: dx = g − exp(y) · Σ_dim g."""

    def forward(self, xp, x, axis=-1):
        self.axis = axis
        self.y = _log_softmax(xp, x, axis)
        return self.y

    def backward(self, xp, g):
        return (g - xp.exp(self.y) * g.sum(axis=self.axis, keepdims=True),)


class Maxout(Function):
    """Max over groups of ``pieces`` consecutive features; keeps the winner's index (the gradient goes there)."""

    def forward(self, xp, x, pieces=2):
        self.shape, self.pieces = x.shape, pieces
        r = x.reshape(x.shape[:-1] + (x.shape[-1] // pieces, pieces))
        self.idx = xp.expand_dims(r.argmax(axis=-1), -1)
        return xp.take_along_axis(r, self.idx, axis=-1)[..., 0]

    def backward(self, xp, g):
        winner = xp.arange(self.pieces) == self.idx
        return ((xp.expand_dims(g, -1) * winner).reshape(self.shape),)


# ====================================================================== public functions
def step(input):
    """Heaviside step: step(x) = 1 if x ≥ 0 else 0 (as a float of the input's dtype; NaN gives 0).

    Its gradient is 0 everywhere, so nothing before it learns through it (use it for perceptrons or at the
    output, not inside a network trained by backpropagation).
    """
    return Step.apply(input)


def identity(input):
    """identity(x) = x (a graph node whose gradient is passed through unchanged)."""
    return Identity.apply(input)


def relu(input, inplace: bool = False):
    """relu(x) = max(x, 0); derivative 1 for x > 0, 0 for x ≤ 0.

    ``inplace=True`` writes the result into ``input`` (version-counted, as torch) and returns it.
    """
    return _apply(ReLU, "relu", input, inplace)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """leaky_relu(x) = x if x > 0 else negative_slope · x.

    ``inplace=True`` writes the result into ``input`` and returns it.
    """
    return _apply(LeakyReLU, "leaky_relu", input, inplace, alpha=float(negative_slope))


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """elu(x) = x if x > 0 else α · (eˣ − 1); derivative 1, or α · eˣ = elu(x) + α for x ≤ 0.

    ``inplace=True`` writes the result into ``input`` and returns it.
    """
    return _apply(ELU, "elu", input, inplace, alpha=float(alpha))


def sigmoid(input):
    """σ(x) = 1 / (1 + e⁻ˣ), computed without overflow for any x; σ'(x) = σ(x) · (1 − σ(x))."""
    return Sigmoid.apply(input)


def tanh(input):
    """tanh(x) = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ); tanh'(x) = 1 − tanh²(x)."""
    return Tanh.apply(input)


def gelu(input, approximate: Literal["none", "tanh"] = "none"):
    """GELU(x) = x · Φ(x), Φ the standard normal CDF: Φ(x) = ½ · (1 + erf(x / √2)).

    ``approximate='tanh'``: GELU(x) ≈ ½ · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
    """
    if approximate == "none":
        return GELU.apply(input)
    if approximate == "tanh":
        return GELUTanh.apply(input)
    raise ValueError(f"gelu: approximate={approximate!r} is not supported; use 'none' (exact, erf) or 'tanh'")


def silu(input, inplace: bool = False):
    """silu(x) = x · σ(x) (also called swish); silu'(x) = σ(x) · (1 + x · (1 − σ(x))).

    ``inplace=True`` writes the result into ``input`` and returns it.
    """
    return _apply(SiLU, "silu", input, inplace)


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """softplus(x) = (1/β) · log(1 + e^(βx)), and x itself where βx > threshold; derivative σ(βx)."""
    return Softplus.apply(input, beta=float(beta), threshold=float(threshold))


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """hardtanh(x) = min(max(x, min_val), max_val); derivative 1 for min_val < x < max_val, else 0.

    ``inplace=True`` writes the result into ``input`` and returns it.
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not be greater than max_val ({max_val})")
    return _apply(Hardtanh, "hardtanh", input, inplace, min_val=float(min_val), max_val=float(max_val))


def softmax(input, dim: int = -1, dtype=None):
    """softmax(x)ᵢ = exp(xᵢ − m) / Σⱼ exp(xⱼ − m) along ``dim``, with m = maxⱼ xⱼ (stable for any logits).

    ``dtype``: cast the input to this dtype first (as torch).
    """
    if dtype is not None:
        input = cast(input, dtype)
    return Softmax.apply(input, axis=_axis(dim, input.ndim, "softmax"))


def log_softmax(input, dim: int = -1, dtype=None):
    """log_softmax(x)ᵢ = (xᵢ − m) − log Σⱼ exp(xⱼ − m) along ``dim``, m = maxⱼ xⱼ (stable for any logits).

    ``dtype``: cast the input to this dtype first (as torch).
    """
    if dtype is not None:
        input = cast(input, dtype)
    return LogSoftmax.apply(input, axis=_axis(dim, input.ndim, "log_softmax"))


def maxout(input, pieces: int):
    """maxout(x)[..., j] = max_{k < pieces} x[..., j · pieces + k].

    The last dimension (out · pieces pre-activations, e.g. the output of a Linear of width out · pieces) is
    viewed as (out, pieces) and the maximum is taken over pieces; the result has last dimension ``out``. The
    gradient flows to the winning piece only (the first one on ties).
    """
    if not isinstance(pieces, int) or pieces < 1:
        raise ValueError(f"maxout: pieces must be a positive int, got {pieces!r}")
    if input.ndim == 0 or input.shape[-1] % pieces:
        raise ValueError(f"maxout: the last dimension of the input (shape {tuple(input.shape)}) must be a "
                         f"multiple of pieces={pieces}: it holds out_features × pieces pre-activations")
    return Maxout.apply(input, pieces=pieces)
