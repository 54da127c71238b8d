"""Adaptive average and max pooling to a fixed output size, as ``torch.nn.functional.adaptive_*_pool2d``.

Output cell i of an axis of length L pooled to O cells covers [⌊i·L/O⌋, ⌈(i + 1)·L/O⌉). The windows are separable,
so the average is two small GEMMs with averaging matrices, y = A_h · x · A_wᵀ (A_h[i, r] = 1/len_i on the window),
and its gradient A_hᵀ · g · A_w (a plain mean over the plane when O = 1: global average pooling). The max gathers
the (B, oh, ow, kh_max, kw_max) windows at once (a shorter window repeats its last element, which changes neither
the max nor its first index) and backward scatter-adds at the argmax, as max pooling does.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from .pooling import planes

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
           "adaptive_windows"]


def adaptive_windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the ``out`` windows over ``size`` elements (host int64 arrays)."""
    i = np.arange(out, dtype=np.int64)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _avg_matrix(size: int, out: int, dtype) -> np.ndarray:
    start, end = adaptive_windows(size, out)
    r = np.arange(size)
    inside = (r >= start[:, None]) & (r < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _output_size(op: str, output_size, in_hw, spatial: int) -> tuple[int, ...]:
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size,) * spatial
    t = tuple(output_size)
    if len(t) != spatial:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {spatial} ints (None keeps that input "
                         f"size), got {output_size!r}")
    t = tuple(int(in_hw[k - spatial]) if v is None else int(v) for k, v in enumerate(t))
    if min(t) <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return t


class AdaptiveAvgPool(Function):
    arg_names = ("input",)

    def forward(self, xp, x, out=None):
        H, W = x.shape[-2:]
        oh, ow = out
        self.shape = x.shape
        x3 = x.reshape(-1, H, W)
        if oh == 1 and ow == 1:
            y = x3.mean(axis=(1, 2))
            self.mats = None
        else:
            self.mats = (self.backend.asarray(_avg_matrix(H, oh, x.dtype)),
                         self.backend.asarray(_avg_matrix(W, ow, x.dtype)))
            ah, aw = self.mats
            y = ah @ (x3 @ aw.T)
        return y.reshape(x.shape[:-2] + (oh, ow))

    def backward(self, xp, g):
        H, W = self.shape[-2:]
        if self.mats is None:
            g3 = g.reshape(-1, 1, 1) * g.dtype.type(1.0 / (H * W))
            return (xp.broadcast_to(g3, (g3.shape[0], H, W)).reshape(self.shape),)
        ah, aw = self.mats
        g3 = g.reshape((-1,) + g.shape[-2:])
        return ((ah.T @ g3 @ aw).reshape(self.shape),)


class AdaptiveMaxPool(Function):
    arg_names = ("input",)

    def forward(self, xp, x, out=None, sink=None):
        H, W = x.shape[-2:]
        oh, ow = out
        be = self.backend
        sh, eh = adaptive_windows(H, oh)
        sw, ew = adaptive_windows(W, ow)
        kh, kw = int((eh - sh).max()), int((ew - sw).max())
        rows = np.minimum(sh[:, None] + np.arange(kh), eh[:, None] - 1)   # (oh, kh)
        cols = np.minimum(sw[:, None] + np.arange(kw), ew[:, None] - 1)   # (ow, kw)
        x3 = x.reshape(-1, H, W)
        win = x3[:, be.asarray(rows[:, None, :, None]), be.asarray(cols[None, :, None, :])]
        win = win.reshape(x3.shape[0], oh, ow, kh * kw)
        k = win.argmax(axis=-1)
        y = xp.take_along_axis(win, k[..., None], axis=-1)[..., 0]
        flat = be.asarray((rows[:, None, :, None] * W + cols[None, :, None, :]).reshape(oh, ow, kh * kw))
        idx = xp.take_along_axis(xp.broadcast_to(flat, win.shape), k[..., None], axis=-1)[..., 0]
        self.idx, self.shape = idx, x.shape
        out_shape = x.shape[:-2] + (oh, ow)
        if sink is not None:
            sink.append(idx.reshape(out_shape))
        return y.reshape(out_shape)

    def backward(self, xp, g):
        g3 = xp.ascontiguousarray(g).reshape(self.idx.shape)
        return (self.backend.max_pool2d_backward(g3, self.idx, self.shape[-2:]).reshape(self.shape),)


def _prepare(op, x, output_size, spatial):
    planes(op, x, spatial)
    hw = tuple(x.shape[-spatial:])
    out = _output_size(op, output_size, hw, spatial)
    if spatial == 1:
        x = x.unsqueeze(-2) if isinstance(x, Tensor) else x[..., None, :]
        out = (1,) + out
    return x, out


def adaptive_avg_pool2d(x, output_size) -> Tensor:
    """Average over the adaptive windows of (N, C, H, W) or (C, H, W) to ``output_size`` (an int, or a pair
    whose None entries keep that input size), as ``torch.nn.functional.adaptive_avg_pool2d``."""
    x, out = _prepare("adaptive_avg_pool2d", x, output_size, 2)
    return AdaptiveAvgPool.apply(x, out=out)


def adaptive_avg_pool1d(x, output_size) -> Tensor:
    """Average over the adaptive windows of (N, C, L) or (C, L), as ``torch.nn.functional.adaptive_avg_pool1d``."""
    x, out = _prepare("adaptive_avg_pool1d", x, output_size, 1)
    return AdaptiveAvgPool.apply(x, out=out).squeeze(-2)


def _adaptive_max(op, x, output_size, return_indices, spatial):
    x, out = _prepare(op, x, output_size, spatial)
    sink = [] if return_indices else None
    y = AdaptiveMaxPool.apply(x, out=out, sink=sink)
    if spatial == 1:
        y = y.squeeze(-2)
    if not return_indices:
        return y
    idx = sink[0] if spatial == 2 else sink[0].reshape(sink[0].shape[:-2] + sink[0].shape[-1:])
    return y, Tensor._make(idx, False, None)


def adaptive_max_pool2d(x, output_size, return_indices: bool = False):
    """Max over the adaptive windows of (N, C, H, W) or (C, H, W), as ``torch.nn.functional.adaptive_max_pool2d``
    (``return_indices``: also the int64 flat index h·W + w of each maximum in its plane)."""
    return _adaptive_max("adaptive_max_pool2d", x, output_size, return_indices, 2)


def adaptive_max_pool1d(x, output_size, return_indices: bool = False):
    """Max over the adaptive windows of (N, C, L) or (C, L), as ``torch.nn.functional.adaptive_max_pool1d``."""
    return _adaptive_max("adaptive_max_pool1d", x, output_size, return_indices, 1)
