"""Nearest-neighbour resizing, as ``torch.nn.functional.interpolate(mode="nearest")``.

Output index o of an axis of length L resized to O reads input ⌊o·r⌋ (at most L − 1), r = 1/scale_factor when a
scale factor is given, L/O otherwise, computed in float32 as PyTorch does (so the same pixels are picked). An
integer factor is a broadcast (no gather) and its gradient a reshaped sum; any other ratio gathers forward and
sums backward through the one-hot selection matrices, g_x = S_hᵀ · g · S_w.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor

__all__ = ["interpolate", "upsample", "nearest_indices"]

MODES = ("nearest",)


def nearest_indices(size: int, out: int, scale) -> np.ndarray:
    """Input index of each output index along one axis (host int64), as PyTorch's ``nearest`` kernel."""
    o = np.arange(out, dtype=np.int64)
    if out == size:
        return o
    if out == 2 * size:
        return o >> 1
    r = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(size) / np.float32(out)
    return np.minimum(np.floor(o.astype(np.float32) * r).astype(np.int64), size - 1)


class _Nearest(Function):
    arg_names = ("input",)

    def forward(self, xp, x, out=None, scales=None):
        be = self.backend
        self.shape = x.shape
        lead, hw = x.shape[:-2], x.shape[-2:]
        x3 = x.reshape((-1,) + hw)
        self.factors = tuple(o // s if o % s == 0 and (sc is None or sc == o // s) else None
                             for o, s, sc in zip(out, hw, scales))
        if None not in self.factors:
            fh, fw = self.factors
            B, H, W = x3.shape
            y = xp.broadcast_to(x3[:, :, None, :, None], (B, H, fh, W, fw)).reshape(B, H * fh, W * fw)
        else:
            ih, iw = (nearest_indices(s, o, sc) for s, o, sc in zip(hw, out, scales))
            self.sel = ih, iw
            y = x3[:, be.asarray(ih)[:, None], be.asarray(iw)[None, :]]
        return y.reshape(lead + tuple(out))

    def backward(self, xp, g):
        H, W = self.shape[-2:]
        g3 = g.reshape((-1,) + g.shape[-2:])
        if None not in self.factors:
            fh, fw = self.factors
            return (g3.reshape(-1, H, fh, W, fw).sum(axis=(2, 4)).reshape(self.shape),)
        ih, iw = self.sel
        sh = np.zeros((ih.size, H), dtype=g.dtype)
        sh[np.arange(ih.size), ih] = 1
        sw = np.zeros((iw.size, W), dtype=g.dtype)
        sw[np.arange(iw.size), iw] = 1
        sh, sw = self.backend.asarray(sh), self.backend.asarray(sw)
        return ((sh.T @ g3 @ sw).reshape(self.shape),)


def interpolate(x, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resize the spatial dims of (N, C, L) or (N, C, H, W), as ``torch.nn.functional.interpolate``.

    Give ``size`` (int or tuple) or ``scale_factor`` (number or tuple); the output length is ⌊L·scale⌋.
    Only ``mode="nearest"`` is implemented: y[..., o] = x[..., min(⌊o·r⌋, L − 1)] (see the module docstring).
    """
    op = "interpolate"
    if mode not in MODES:
        raise NotImplementedError(f"{op}: mode={mode!r} is not implemented; supported: "
                                  f"{', '.join(repr(m) for m in MODES)}")
    if align_corners is not None:
        raise ValueError(f"{op}: align_corners only applies to the linear modes, not mode={mode!r}; leave it None")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not implemented (nor needed for mode='nearest')")
    shape = tuple(x.shape)
    if len(shape) not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got shape {shape} "
                         f"({len(shape)}-D); add a batch dim with x.unsqueeze(0)")
    spatial = len(shape) - 2
    in_sizes = shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor (got "
                         f"{'both' if size is not None else 'neither'})")
    if size is not None:
        out = (int(size),) * spatial if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
        if len(out) != spatial:
            raise ValueError(f"{op}: size must be an int or a tuple of {spatial} ints for a {len(shape)}-D input, "
                             f"got {size!r}")
        scales = (None,) * spatial
    else:
        sf = (float(scale_factor),) * spatial if np.isscalar(scale_factor) else tuple(
            float(s) for s in scale_factor)
        if len(sf) != spatial:
            raise ValueError(f"{op}: scale_factor must be a number or a tuple of {spatial} numbers for a "
                             f"{len(shape)}-D input, got {scale_factor!r}")
        out = tuple(int(math.floor(n * s)) for n, s in zip(in_sizes, sf))
        scales = (None,) * spatial if recompute_scale_factor else sf
    if min(out) <= 0:
        raise ValueError(f"{op}: the output size {out} must be positive (input {in_sizes}); use a larger size "
                         f"or scale_factor")
    if spatial == 1:
        x = x.unsqueeze(-2) if isinstance(x, Tensor) else x[..., None, :]
        return _Nearest.apply(x, out=(1,) + out, scales=(None,) + scales).squeeze(-2)
    return _Nearest.apply(x, out=out, scales=scales)


def upsample(x, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Alias of :func:`interpolate` (``torch.nn.functional.upsample``)."""
    return interpolate(x, size, scale_factor, mode, align_corners)
