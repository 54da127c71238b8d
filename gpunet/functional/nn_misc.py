"""torch.nn.functional's helpers outside the layer families: ``norm`` (vector norms), ``normalize``,
``cosine_similarity``, ``one_hot`` and ``pad`` (constant, reflect, replicate, circular). Each differentiable one
is a Function (or composed of them) with torch's gradient, also at the kinks (a zero vector's 2-norm has
gradient 0, as torch's subgradient)."""
from __future__ import annotations

import numpy as np

from ..autograd._dims import canonical_dims
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from .math import mul, div, sum as _sum

__all__ = ["norm", "normalize", "cosine_similarity", "one_hot", "pad"]


def _expand(xp, g, axis, keepdim, ndim):
    if axis is None:
        return g.reshape((1,) * ndim) if not keepdim else g
    if not keepdim:
        for a in axis:
            g = xp.expand_dims(g, a)
    return g


class Norm(Function):
    """‖x‖_p over ``axis``: p = 2 √Σx², p = 1 Σ|x|, p = ∞ max|x|, else (Σ|x|ᵖ)^(1/p). Backward: x/‖x‖ (0 where
    ‖x‖ = 0), sign(x), the max-abs entries sharing the gradient evenly (as torch), |x|ᵖ⁻¹sign(x)/‖x‖ᵖ⁻¹."""

    def forward(self, xp, x, p=2.0, axis=None, keepdim=False):
        a = xp.abs(x)
        if p == 2:
            out = xp.sqrt((x * x).sum(axis=axis, keepdims=keepdim))
        elif p == 1:
            out = a.sum(axis=axis, keepdims=keepdim)
        elif p == float("inf"):
            out = a.max(axis=axis, keepdims=keepdim)
        else:
            out = (a ** p).sum(axis=axis, keepdims=keepdim) ** (1.0 / p)
        self.x, self.p, self.axis, self.keepdim, self.out = x, p, axis, keepdim, out
        return out

    def backward(self, xp, g):
        x, p, out = self.x, self.p, self.out
        n = _expand(xp, out, self.axis, self.keepdim, x.ndim)
        gb = _expand(xp, g, self.axis, self.keepdim, x.ndim)
        if p == 2:
            scale = xp.where(n == 0, 0, gb / xp.where(n == 0, 1, n))
            return (x * scale,)
        if p == 1:
            return (xp.sign(x) * gb,)
        if p == float("inf"):
            hit = xp.abs(x) == n
            count = hit.sum(axis=self.axis, keepdims=True) if self.axis is not None else hit.sum()
            return (xp.sign(x) * hit * gb / count,)
        safe = xp.where(n == 0, 1, n)
        return (xp.where(n == 0, 0, xp.sign(x) * xp.abs(x) ** (p - 1) / safe ** (p - 1)) * gb,)


class _ClampMinNoGrad(Function):
    """max(x, lo) in value, the identity for the gradient (torch's clamp under no_grad in cosine_similarity)."""

    def forward(self, xp, x, lo=0.0):
        return xp.maximum(x, lo)

    def backward(self, xp, g):
        return (g,)


class _ClampMin(Function):
    """max(x, lo); the gradient passes where x ≥ lo (torch's clamp_min)."""

    def forward(self, xp, x, lo=0.0):
        self.mask = x >= lo
        return xp.maximum(x, lo)

    def backward(self, xp, g):
        return (g * self.mask,)


class Pad(Function):
    """Constant padding; the gradient is the input's window of the output's."""

    def forward(self, xp, x, widths=(), value=0.0):
        self.window = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return xp.pad(x, widths, mode="constant", constant_values=value)

    def backward(self, xp, g):
        return (g[self.window],)


# ====================================================================== public wrappers
def norm(input, p=2, dim=None, keepdim: bool = False):
    """The vector p-norm over ``dim`` (all elements when None): p = 2 (default), 1, inf ('fro' = 2), any p > 0."""
    if p == "fro":
        p = 2
    p = float(p)
    if not p > 0:
        raise ValueError(f"norm: p must be positive (or inf, 'fro'), got {p}")
    return Norm.apply(input, p=p, axis=canonical_dims(dim, input.ndim, "norm"), keepdim=bool(keepdim))


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12):
    """x / max(‖x‖_p, eps) along ``dim`` (as torch: the clamp's gradient passes only above eps)."""
    return div(input, _ClampMin.apply(norm(input, p, dim, keepdim=True), lo=float(eps)))


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """Σ (x1/‖x1‖)·(x2/‖x2‖) along ``dim``, each norm clamped below at ``eps`` (the clamp invisible to the
    gradient, as torch computes it); the operands broadcast."""
    n1 = _ClampMinNoGrad.apply(norm(x1, 2, dim, keepdim=True), lo=float(eps))
    n2 = _ClampMinNoGrad.apply(norm(x2, 2, dim, keepdim=True), lo=float(eps))
    prod = mul(div(x1, n1), div(x2, n2))
    return _sum(prod, axis=dim)


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: shape (*, num_classes); num_classes = -1 takes max + 1 (a read on the GPU)."""
    t = tensor.data if isinstance(tensor, Tensor) else tensor
    if np.dtype(t.dtype).kind not in "iu":
        raise TypeError(f"one_hot: the input must be an integer (class index) tensor, got dtype {t.dtype}")
    from ..backend import backend_of

    be = backend_of((t,))
    xp = be.xp
    if t.size and int(t.min()) < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if num_classes == -1:
        num_classes = int(t.max()) + 1 if t.size else 0
    elif t.size and int(t.max()) >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes={num_classes}")
    out = (t[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor._make(out, False, None)


def pad(input, pad, mode: str = "constant", value: float | None = None):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right)`` for the last, then the one before ...
    (torch's order). ``mode``: 'constant' (``value``, default 0), or, for the last 1-3 dims of a (N,) C, ...
    input, 'reflect' (mirrored without the edge: pads < the dim), 'replicate' (the edge repeated) and
    'circular' (wrapped around: pads <= the dim). Differentiable: the non-constant modes gather along each
    padded dim (index_select), whose backward scatter-adds the gradient back."""
    pad = tuple(int(v) for v in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of values, at most 2·ndim = {2 * input.ndim}, got {pad}")
    if any(v < 0 for v in pad):
        raise NotImplementedError("pad: negative padding (cropping) is not supported; slice the input instead")
    if mode == "constant":
        widths = [(0, 0)] * input.ndim
        for i in range(len(pad) // 2):
            widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        return Pad.apply(input, widths=tuple(widths), value=0.0 if value is None else float(value))
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; use 'constant', 'reflect', 'replicate' "
                                  f"or 'circular'")
    if value is not None and value != 0:
        raise ValueError(f'pad: padding mode "{mode}" doesn\'t take in value argument')
    n = len(pad) // 2
    if not 1 <= n <= 3 or input.ndim not in (n + 1, n + 2):
        raise NotImplementedError(f"pad: mode {mode!r} pads the last 1-3 dims of a batched or unbatched input: "
                                  f"{n} padded dims need a {n + 1}-D or {n + 2}-D input, got shape "
                                  f"{tuple(input.shape)}")
    from ..backend import backend_of
    from .indexing import IndexSelect

    be = backend_of((input.data if isinstance(input, Tensor) else input,))
    out = input
    for i in range(n):
        d = input.ndim - 1 - i
        lo, hi, size = pad[2 * i], pad[2 * i + 1], input.shape[d]
        if not lo and not hi:
            continue
        j = np.arange(-lo, size + hi)
        if mode == "reflect":
            if lo >= size or hi >= size:
                raise RuntimeError(f"pad: padding size should be less than the corresponding input dimension for "
                                   f"mode 'reflect', but got padding ({lo}, {hi}) at dimension {d} of input "
                                   f"{list(input.shape)}")
            period = 2 * (size - 1)
            j = np.abs(j) % period if period else np.zeros_like(j)
            j = np.where(j >= size, period - j, j)
        elif mode == "replicate":
            if size == 0:
                raise RuntimeError(f"pad: mode 'replicate' needs a non-empty dimension {d}")
            j = np.clip(j, 0, size - 1)
        else:
            if lo > size or hi > size:
                raise RuntimeError(f"pad: padding value causes wrapping around more than once for mode "
                                   f"'circular': padding ({lo}, {hi}) at dimension {d} of input "
                                   f"{list(input.shape)}")
            j = j % size
        out = IndexSelect.apply(out, be.asarray(j.astype(np.int64)), dim=d)
    return out


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """‖x1 − x2 + eps‖_p over the last dim, as ``torch.nn.functional.pairwise_distance`` (the operands
    broadcast)."""
    return norm(x1 - x2 + eps, p, -1, keepdim=keepdim)
