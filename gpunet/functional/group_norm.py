"""Group normalisation as ONE Function over a 3-D (N·G, C/G, S) view of an (N, C, *) input.

Each (sample, group) row is normalised over its C/G channels and S positions (S = the product of the spatial
sizes), then scaled and shifted per channel. Forward and backward call the backend's fused kernels
(``group_norm_forward`` / ``group_norm_backward``; reference versions in :mod:`gpunet.backend._norm_ops`).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ._dtypes import require_same_dtype
from .layer_norm import as_shape, grad_buffer

__all__ = ["group_norm", "GroupNormFunction"]


class GroupNormFunction(Function):
    """``y = (x − μ_g)/√(σ_g² + ε)·w[c] + b[c]`` with the statistics of each (sample, group)."""
    arg_names = ("input", "weight", "bias")

    def forward(self, xp, x, weight, bias, groups=1, eps=1e-5):
        n, c = x.shape[0], x.shape[1]
        s = math.prod(x.shape[2:])
        x3 = xp.ascontiguousarray(x.reshape(n * groups, c // groups, s))
        y3, mean, rstd = self.backend.group_norm_forward(x3, weight, bias, groups, eps)
        if any(self.needs_input_grad):
            self.x3, self.mean, self.rstd, self.w, self.groups, self.shape = x3, mean, rstd, weight, groups, x.shape
            self.eps = eps
        return y3.reshape(x.shape)

    def backward(self, xp, g):
        need_x, need_w, need_b = self.needs_input_grad
        full, out = grad_buffer(xp, need_x, self.shape, self.x3)
        dx, dw, db = self.backend.group_norm_backward(g.reshape(self.x3.shape), self.x3, self.mean, self.rstd,
                                                      self.w, self.groups, need_x=need_x, need_w=need_w,
                                                      need_b=need_b, out=out)
        return as_shape(dx, self.shape, full, out), dw, db


def _data(a):
    return a.data if isinstance(a, Tensor) else a


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Group normalisation of (N, C, *) input, as ``torch.nn.functional.group_norm``: the channels split into
    ``num_groups`` groups of C/G; y = (x − E[x]) / √(Var[x] + eps) · weight[c] + bias[c], the mean and biased
    variance over each (sample, group)'s channels and positions. ``weight``/``bias`` of shape (C,), or None."""
    x = _data(input)
    op = "group_norm"
    if not hasattr(x, "shape"):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if np.dtype(x.dtype).kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}; convert it with .float()")
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, *) with at least 2 dimensions, got shape "
                         f"{tuple(x.shape)}; add a batch dimension (x.reshape(1, -1)) first")
    c = x.shape[1]
    g = int(num_groups)
    if g <= 0 or c % g:
        raise ValueError(f"{op}: the input's {c} channels (shape {tuple(x.shape)}) must be divisible by "
                         f"num_groups={num_groups}; choose a number of groups that divides {c}")
    for name, a in (("weight", weight), ("bias", bias)):
        if a is None:
            continue
        if tuple(_data(a).shape) != (c,):
            raise ValueError(f"{op}: {name} must have shape ({c},) for an input with {c} channels, got "
                             f"{tuple(_data(a).shape)}")
        require_same_dtype(op, x, _data(a), name)
    return GroupNormFunction.apply(input, weight, bias, groups=g, eps=float(eps))
