"""Layer normalisation and RMS normalisation, each ONE Function over a 2-D (rows, D) view of the input.

The last ``len(normalized_shape)`` axes of the input are normalised together (D = their product); every leading
index is a row. Forward and backward call the backend's fused kernels (``layer_norm_forward`` /
``layer_norm_backward``; reference versions in :mod:`gpunet.backend._norm_ops`): the row statistics in one pass,
normalise + affine in the same visit of the row; backward the row sums and the affine terms in one pass, then dx.
Backward keeps the input, the row mean and 1/std (x̂ is recomputed, never stored).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ._dtypes import require_same_dtype

__all__ = ["layer_norm", "rms_norm", "LayerNormFunction", "normalized_shape_tuple"]


class LayerNormFunction(Function):
    """``y = (x − μ)/√(σ² + ε)·w + b`` over the trailing D values of each row (``rms``: ``y = x/√(mean(x²) + ε)·w``,
    no bias)."""
    arg_names = ("input", "weight", "bias")

    def forward(self, xp, x, weight, bias, d=1, eps=1e-5, rms=False):
        shape = x.shape
        rows = x.size // d if d else 0
        x2 = xp.ascontiguousarray(x.reshape(rows, d))
        w = None if weight is None else weight.reshape(d)
        b = None if bias is None else bias.reshape(d)
        y2, mean, rstd = self.backend.layer_norm_forward(x2, w, b, eps, rms)
        if any(self.needs_input_grad):
            self.x2, self.mean, self.rstd, self.w, self.rms = x2, mean, rstd, w, rms
            self.shape, self.wshape, self.eps = shape, None if weight is None else weight.shape, eps
        return y2.reshape(shape)

    def backward(self, xp, g):
        need_x, need_w, need_b = self.needs_input_grad
        g2 = g.reshape(self.x2.shape)
        full, out = grad_buffer(xp, need_x, self.shape, self.x2)
        dx, dw, db = self.backend.layer_norm_backward(g2, self.x2, self.mean, self.rstd, self.w, self.rms,
                                                      need_x=need_x, need_w=need_w, need_b=need_b, out=out)
        return as_shape(dx, self.shape, full, out), as_shape(dw, self.wshape), as_shape(db, self.wshape)


def grad_buffer(xp, need: bool, shape, x2):
    """``(full, view)``: a fresh array of the input's ``shape`` and its view shaped like the backend's ``x2``,
    for the backend to write dx into, so the gradient handed to the engine is an array of its own (the engine
    copies a view, not knowing the memory is the op's); ``(None, None)`` when x2 already has the shape."""
    if not need or tuple(shape) == tuple(x2.shape):
        return None, None
    full = xp.empty(shape, dtype=x2.dtype)
    return full, full.reshape(x2.shape)


def as_shape(a, shape, full=None, view=None):
    """``a`` in ``shape``: ``full`` when the backend wrote ``a`` into ``view``; no reshape (a view) when the shape
    is already right."""
    if a is None:
        return None
    if view is not None and a is view:
        return full
    return a if tuple(a.shape) == tuple(shape) else a.reshape(shape)


def normalized_shape_tuple(normalized_shape, op: str) -> tuple[int, ...]:
    """``normalized_shape`` (an int or a sequence of ints) as a tuple of non-negative ints."""
    if isinstance(normalized_shape, (int, np.integer)):
        return (int(normalized_shape),)
    try:
        shape = tuple(int(s) for s in normalized_shape)
    except TypeError:
        raise TypeError(f"{op}: normalized_shape must be an int or a tuple of ints, got "
                        f"{type(normalized_shape).__name__}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: normalized_shape must not have negative sizes, got {shape}")
    return shape


def _data(a):
    return a.data if isinstance(a, Tensor) else a


def _check(op, input, shape, weight, bias) -> None:
    x = _data(input)
    if not hasattr(x, "shape"):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}; convert it with "
                        f".float() or .astype('float32')")
    k = len(shape)
    if k == 0 or x.ndim < k or x.shape[x.ndim - k:] != shape:
        raise ValueError(f"{op}: normalized_shape={list(shape)} expects an input of shape [*, "
                         f"{', '.join(map(str, shape))}] (its last {k} dimension{'s' if k > 1 else ''}), got input "
                         f"of shape {list(x.shape)}; pass the trailing feature shape of the input as "
                         f"normalized_shape")
    for name, a in (("weight", weight), ("bias", bias)):
        if a is None:
            continue
        if _data(a).shape != shape:
            raise ValueError(f"{op}: {name} must have shape {shape} (normalized_shape), got "
                             f"{tuple(_data(a).shape)}")
        require_same_dtype(op, x, _data(a), name)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last ``len(normalized_shape)`` dimensions, as ``torch.nn.functional``:

    y = (x − E[x]) / √(Var[x] + eps) · weight + bias, with the mean and the biased variance over those dimensions
    (accumulated stably: shifted sums). ``weight`` and ``bias`` have shape ``normalized_shape`` and may be None.
    """
    shape = normalized_shape_tuple(normalized_shape, "layer_norm")
    _check("layer_norm", input, shape, weight, bias)
    return LayerNormFunction.apply(input, weight, bias, d=math.prod(shape), eps=float(eps), rms=False)


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None) -> Tensor:
    """Root-mean-square normalisation over the last ``len(normalized_shape)`` dimensions, as
    ``torch.nn.functional.rms_norm``: y = x / √(mean(x²) + eps) · weight. ``eps=None`` uses the machine epsilon
    of the input's dtype (``torch.finfo(dtype).eps``)."""
    shape = normalized_shape_tuple(normalized_shape, "rms_norm")
    _check("rms_norm", input, shape, weight, None)
    if eps is None:
        eps = float(np.finfo(_data(input).dtype).eps)
    return LayerNormFunction.apply(input, weight, None, d=math.prod(shape), eps=float(eps), rms=True)
