"""Resizing, as ``torch.nn.functional.interpolate``: ``mode="nearest"`` here, the separable modes ('linear',
'bilinear', 'bicubic', 'area', 'nearest-exact') as resampling matrices (:mod:`._interp_weights`):
``y = A_h · x · A_wᵀ`` forward, ``g_x = A_hᵀ · g · A_w`` backward, batched GEMMs on every backend.

Nearest:

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
from . import _interp_weights

__all__ = ["interpolate", "upsample", "nearest_indices"]

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "area")
_LINEAR = {"linear": 3, "bilinear": 4, "bicubic": 4}  # the interpolating modes and the input rank each needs


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


class _Separable(Function):
    """y = A_h · x · A_wᵀ over the last two dims (``A_h`` None: the last dim only)."""
    arg_names = ("input",)

    def forward(self, xp, x, Ah=None, Aw=None):
        be = self.backend
        self.Ah, self.Aw, self.shape = Ah, Aw, x.shape
        lead = x.shape[:-2]
        x3 = x.reshape((-1,) + x.shape[-2:])
        y = be.matmul(x3, Aw.T)
        if Ah is not None:
            y = be.matmul(Ah, y)
        return y.reshape(lead + y.shape[-2:])

    def backward(self, xp, g):
        be = self.backend
        g3 = g.reshape((-1,) + g.shape[-2:])
        gx = be.matmul(g3, self.Aw)
        if self.Ah is not None:
            gx = be.matmul(self.Ah.T, gx)
        return (gx.reshape(self.shape),)


def _nearest_exact(size: int, out: int, scale, dtype) -> np.ndarray:
    """The one-hot (out, size) matrix of torch's 'nearest-exact': input min(⌊(o + ½)·r⌋, L − 1)."""
    r = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(size) / np.float32(out)
    idx = np.minimum(np.floor((np.arange(out, dtype=np.float32) + np.float32(0.5)) * r).astype(np.int64), size - 1)
    A = np.zeros((out, size), dtype=dtype)
    A[np.arange(out), idx] = 1
    return A


def _separable(x, out, scales, mode, align_corners):
    be = _backend_of(x)
    dt = np.dtype(x.dtype)
    kind = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)

    def mat(size, o, sc):
        if kind == "nearest-exact":
            return _nearest_exact(size, o, sc, dt)
        return _interp_weights.matrix(size, o, kind, align_corners, sc, dt)
    in_sizes = tuple(x.shape[2:])
    mats = [be.asarray(mat(n, o, sc)) for n, o, sc in zip(in_sizes, out, scales)]
    if len(mats) == 1:
        return _Separable.apply(x, Ah=None, Aw=mats[0])
    return _Separable.apply(x, Ah=mats[0], Aw=mats[1])


def _backend_of(x):
    from .. import backend as _backend

    return _backend.backend_of((x.data if isinstance(x, Tensor) else x,))


def interpolate(x, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resize the spatial dims of (N, C, L) or (N, C, H, W), as ``torch.nn.functional.interpolate``.

    Give ``size`` (int or tuple) or ``scale_factor`` (number or tuple); the output length is ⌊L·scale⌋.
    ``mode``: 'nearest' (y[..., o] = x[..., min(⌊o·r⌋, L − 1)]), 'nearest-exact', 'linear' (3-D), 'bilinear'
    and 'bicubic' (4-D; ``align_corners`` default False), 'area' (adaptive average pooling); see the module
    docstring. 'trilinear' (5-D) and ``antialias`` are not implemented.
    """
    op = "interpolate"
    if mode == "trilinear":
        raise NotImplementedError(f"{op}: mode='trilinear' (5-D input) is not implemented; supported: "
                                  f"{', '.join(repr(m) for m in MODES)}")
    if mode not in MODES:
        raise NotImplementedError(f"{op}: mode={mode!r} is not implemented; supported: "
                                  f"{', '.join(repr(m) for m in MODES)}")
    if align_corners is not None and mode not in _LINEAR:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not implemented")
    shape = tuple(x.shape)
    if len(shape) not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got shape {shape} "
                         f"({len(shape)}-D); add a batch dim with x.unsqueeze(0)")
    if mode in _LINEAR and len(shape) != _LINEAR[mode]:
        raise NotImplementedError(f"Got {len(shape)}D input, but {mode} mode needs {_LINEAR[mode]}D input")
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
    if mode != "nearest":
        return _separable(x, out, scales, mode, bool(align_corners))
    if spatial == 1:
        x = x.unsqueeze(-2) if isinstance(x, Tensor) else x[..., None, :]
        return _Nearest.apply(x, out=(1,) + out, scales=(None,) + scales).squeeze(-2)
    return _Nearest.apply(x, out=out, scales=scales)


def upsample(x, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Alias of :func:`interpolate` (``torch.nn.functional.upsample``)."""
    return interpolate(x, size, scale_factor, mode, align_corners)
