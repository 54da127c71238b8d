"""Max and average pooling over 1-D and 2-D windows, as ``torch.nn.functional``.

An input (N, C, H, W) or unbatched (C, H, W) is a stack of B = N·C planes (B, H, W) for the backend's pool ops
(``max_pool2d_forward`` … in :mod:`gpunet.backend._pool_ops`); a 1-D pool (N, C, L) is a 2-D one with H = 1. Max
pool keeps the flat per-plane index of each window's maximum (``return_indices`` gives it, int64, as PyTorch) and
its backward scatter-adds the gradient there; average pool's backward spreads ``g / divisor`` over each window.

Output size along each axis, as PyTorch: ``o = ⌊(L + 2p − d·(k − 1) − 1 + (ceil_mode ? s − 1 : 0)) / s⌋ + 1``,
less one when ceil mode would start the last window past the input and its left padding (``(o − 1)·s ≥ L + p``).
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "max_unpool1d", "max_unpool2d", "MaxPool",
           "AvgPool", "pool_geometry", "as_tuple", "planes"]


def as_tuple(value, n: int, name: str, op: str) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ``n`` ints; one int in a sequence is repeated) as an ``n``-tuple."""
    if isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if isinstance(value, int) or hasattr(value, "__index__"):
        return (int(value),) * n
    t = tuple(int(v) for v in value)
    if len(t) == 1:
        t = t * n
    if len(t) != n:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return t


def _out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    o = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def pool_geometry(op: str, in_hw, kernel, stride, padding, dilation, ceil_mode: bool):
    """The backend geometry ``(kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)``, after PyTorch's checks (positive kernel,
    stride and dilation, padding at most half the kernel, an output of at least one element)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if min(kh, kw) <= 0:
        raise ValueError(f"{op}: kernel_size must be positive, got {kernel if len(set(kernel)) > 1 else kh}")
    if min(sh, sw) <= 0:
        raise ValueError(f"{op}: stride must be positive, got {stride}; leave it out (None) to use the kernel size")
    if min(dh, dw) <= 0:
        raise ValueError(f"{op}: dilation must be positive, got {dilation}")
    if min(ph, pw) < 0 or ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size (PyTorch's rule), got "
                         f"padding={padding} for kernel_size={kernel}; use a larger kernel or less padding")
    H, W = in_hw
    oh = _out_size(H, kh, sh, ph, dh, ceil_mode)
    ow = _out_size(W, kw, sw, pw, dw, ceil_mode)
    if oh < 1 or ow < 1:
        eff = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        raise ValueError(f"{op}: the kernel (extent {eff[0]}x{eff[1]} with dilation) is larger than the padded "
                         f"input {H + 2 * ph}x{W + 2 * pw}: the output would be {oh}x{ow}; use a smaller "
                         f"kernel_size or dilation, more padding, or a larger input")
    return kh, kw, sh, sw, ph, pw, dh, dw, oh, ow


def planes(op: str, x, spatial: int):
    """Check the rank of ``x`` (spatial + 1 unbatched or spatial + 2 batched dims) and return its leading dims."""
    shape = tuple(x.shape)
    if len(shape) not in (spatial + 1, spatial + 2):
        names = ("(C, L)", "(N, C, L)") if spatial == 1 else ("(C, H, W)", "(N, C, H, W)")
        raise ValueError(f"{op}: expected a {spatial + 1}-D {names[0]} or {spatial + 2}-D {names[1]} input, got "
                         f"shape {shape} ({len(shape)}-D); reshape it (x.unsqueeze(0) adds a batch dim)")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got dtype {x.dtype}; convert it with x.float()")
    if 0 in shape[-spatial:] or 0 in shape[:-spatial][-1:]:
        raise ValueError(f"{op}: expected non-empty channel and spatial dims, got shape {shape}")
    return shape[:-spatial]


def _to_planes(xp, x, spatial):
    H, W = (1, x.shape[-1]) if spatial == 1 else x.shape[-2:]
    return xp.ascontiguousarray(x).reshape(-1, H, W), (H, W)


class MaxPool(Function):
    """Max over each window; ``sink`` (a list, optional) receives the int64 flat indices."""
    arg_names = ("input",)

    def forward(self, xp, x, geom=None, spatial=2, sink=None):
        x3, self.hw = _to_planes(xp, x, spatial)
        y, idx = self.backend.max_pool2d_forward(x3, geom)
        self.geom, self.idx, self.shape = geom, idx, x.shape
        lead = x.shape[:-spatial]
        out = lead + ((geom[9],) if spatial == 1 else (geom[8], geom[9]))
        if sink is not None:
            sink.append(idx.reshape(out))
        return y.reshape(out)

    def backward(self, xp, g):
        g3 = xp.ascontiguousarray(g).reshape(self.idx.shape)
        return (self.backend.max_pool2d_backward(g3, self.idx, self.hw, self.geom).reshape(self.shape),)


class AvgPool(Function):
    """Mean over each (zero-padded) window."""
    arg_names = ("input",)

    def forward(self, xp, x, geom=None, spatial=2, count_include_pad=True, divisor_override=None):
        x3, self.hw = _to_planes(xp, x, spatial)
        self.geom, self.shape, self.opts = geom, x.shape, (count_include_pad, divisor_override)
        y = self.backend.avg_pool2d_forward(x3, geom, *self.opts)
        lead = x.shape[:-spatial]
        return y.reshape(lead + ((geom[9],) if spatial == 1 else (geom[8], geom[9])))

    def backward(self, xp, g):
        g3 = xp.ascontiguousarray(g).reshape(-1, self.geom[8], self.geom[9])
        return (self.backend.avg_pool2d_backward(g3, self.hw, self.geom, *self.opts).reshape(self.shape),)


def _max_pool(op, x, spatial, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    planes(op, x, spatial)
    k = as_tuple(kernel_size, spatial, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else as_tuple(
        stride, spatial, "stride", op)
    p, d = as_tuple(padding, spatial, "padding", op), as_tuple(dilation, spatial, "dilation", op)
    if spatial == 1:
        k, s, p, d = (1,) + k, (1,) + s, (0,) + p, (1,) + d
    hw = (1, x.shape[-1]) if spatial == 1 else tuple(x.shape[-2:])
    geom = pool_geometry(op, hw, k, s, p, d, bool(ceil_mode))
    sink = [] if return_indices else None
    y = MaxPool.apply(x, geom=geom, spatial=spatial, sink=sink)
    return (y, Tensor._make(sink[0], False, None)) if return_indices else y


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """2-D max pooling of (N, C, H, W) or (C, H, W), as ``torch.nn.functional.max_pool2d``.

    y[n, c, i, j] = max over the window of x (padded with −inf) at rows i·s_h − p_h + a·d_h and columns
    j·s_w − p_w + b·d_w, a < k_h, b < k_w. ``stride`` defaults to the kernel size. ``return_indices``: also the
    int64 flat index h·W + w of each maximum in its input plane. The gradient flows to the maxima only.
    """
    return _max_pool("max_pool2d", x, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-D max pooling of (N, C, L) or (C, L), as ``torch.nn.functional.max_pool1d`` (indices along L)."""
    return _max_pool("max_pool1d", x, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(op, x, spatial, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    planes(op, x, spatial)
    k = as_tuple(kernel_size, spatial, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else as_tuple(
        stride, spatial, "stride", op)
    p = as_tuple(padding, spatial, "padding", op)
    if spatial == 1:
        k, s, p = (1,) + k, (1,) + s, (0,) + p
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero (None divides by the window size)")
    hw = (1, x.shape[-1]) if spatial == 1 else tuple(x.shape[-2:])
    geom = pool_geometry(op, hw, k, s, p, (1, 1), bool(ceil_mode))
    return AvgPool.apply(x, geom=geom, spatial=spatial, count_include_pad=bool(count_include_pad),
                         divisor_override=None if divisor_override is None else int(divisor_override))


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override=None):
    """2-D average pooling of (N, C, H, W) or (C, H, W), as ``torch.nn.functional.avg_pool2d``.

    y = (sum of the zero-padded window) / divisor; the divisor is the window size clipped to the padded input
    (``count_include_pad=True``), or the number of input elements in the window (False), or
    ``divisor_override``. ``stride`` defaults to the kernel size.
    """
    return _avg_pool("avg_pool2d", x, 2, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
    """1-D average pooling of (N, C, L) or (C, L), as ``torch.nn.functional.avg_pool1d``."""
    return _avg_pool("avg_pool1d", x, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, nd: int, fn: str):
    from ..autograd.creation import as_tensor
    from .indexing import scatter
    from ._conv_geometry import tuple_arg

    x = input if isinstance(input, Tensor) else as_tensor(input)
    idx = indices if isinstance(indices, Tensor) else as_tensor(indices)
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{fn}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D input, got shape {tuple(x.shape)}")
    if tuple(idx.shape) != tuple(x.shape):
        raise ValueError(f"{fn}: indices must have the input's shape {tuple(x.shape)}, got {tuple(idx.shape)} (pass "
                         f"the indices max_pool returned with return_indices=True)")
    if np.dtype(idx.dtype).kind not in "iu":
        raise TypeError(f"{fn}: indices must be integers, got dtype {np.dtype(idx.dtype)}")
    k = tuple_arg(kernel_size, nd, "kernel_size", fn, 1)
    s = tuple_arg(stride if stride is not None else kernel_size, nd, "stride", fn, 1)
    p = tuple_arg(padding, nd, "padding", fn)
    spatial = tuple(x.shape[-nd:])
    default = tuple((i - 1) * st - 2 * pp + kk for i, st, pp, kk in zip(spatial, s, p, k))
    if output_size is None:
        out = default
    else:
        out = tuple(int(v) for v in output_size)[-nd:]
        if len(out) != nd:
            raise ValueError(f"{fn}: output_size must have {nd} (or {nd + 2}) entries, got {output_size!r}")
        for o, d, st in zip(out, default, s):
            if not d - st < o < d + st:
                lo = tuple(v - st + 1 for v, st in zip(default, s))
                hi = tuple(v + st - 1 for v, st in zip(default, s))
                raise ValueError(f"{fn}: invalid output_size {out} (must lie between {lo} and {hi})")
    lead = tuple(x.shape[:-nd])
    plane = int(np.prod(out))
    flat_i = idx.reshape(lead + (-1,))
    # (an index outside the plane raises in scatter, which checks on every backend)
    base = x.new_zeros(lead + (plane,))
    return scatter(base, -1, flat_i, x.reshape(lead + (-1,))).reshape(lead + out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of :func:`max_pool1d`: each value put back at its index, zeros elsewhere, as
    ``torch.nn.functional.max_unpool1d``."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of :func:`max_pool2d`: each value put back at its flat index h·W + w in its plane,
    zeros elsewhere (output (H − 1)·stride − 2·padding + kernel, or ``output_size``), as
    ``torch.nn.functional.max_unpool2d``. Differentiable in ``input`` (the gradient read back at the indices)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")
