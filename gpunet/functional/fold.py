"""``unfold`` (im2col) and ``fold`` (col2im), as ``torch.nn.functional.unfold`` / ``fold``.

``unfold`` of (N, C, H, W) is (N, C·kh·kw, L): column l = (oh, ow) holds the window at that output position, row
c·kh·kw + i·kw + j its entry (i, j) of channel c (PyTorch's layout). It is the zero-padded input's windows gathered
by advanced indexing, ``fold`` the adjoint: the columns added back (``scatter_add``) into the padded image, then the
padding cropped. Both are built of differentiable ops, so gradients (double backward too) come with them.
"""
from __future__ import annotations

import numpy as np

from ..autograd.creation import as_tensor, zeros
from ..autograd.tensor import Tensor
from ._conv_geometry import conv_out_size, tuple_arg
from .indexing import scatter_add
from .nn_misc import pad
from .shape import getitem

__all__ = ["unfold", "fold"]


def _geometry(kernel_size, dilation, padding, stride, fn):
    k = tuple_arg(kernel_size, 2, "kernel_size", fn, 1)
    d = tuple_arg(dilation, 2, "dilation", fn, 1)
    p = tuple_arg(padding, 2, "padding", fn)
    s = tuple_arg(stride, 2, "stride", fn, 1)
    return k, d, p, s


def _blocks(hw, k, d, p, s, fn):
    out = tuple(conv_out_size(n, kk, ss, pp, pp, dd) for n, kk, dd, pp, ss in zip(hw, k, d, p, s))
    if min(out) <= 0:
        raise RuntimeError(f"{fn}: the kernel {k} (dilation {d}) does not fit the padded input {tuple(hw)} (padding "
                           f"{p}): no block; use a smaller kernel or more padding")
    return out


def _index(k, d, s, out):
    """The (kh, kw, OH, OW)-broadcastable row and column indices of the windows in the padded image (host)."""
    I = np.arange(k[0])[:, None] * d[0] + np.arange(out[0])[None, :] * s[0]  # (kh, OH)
    J = np.arange(k[1])[:, None] * d[1] + np.arange(out[1])[None, :] * s[1]  # (kw, OW)
    return I[:, None, :, None], J[None, :, None, :]


def _backend(t):
    from .. import backend as _b

    return _b.backend_of((t.data,))


def windows(xp4, kernel, dilation, stride, out) -> Tensor:
    """(N, C, kh, kw, OH, OW): the windows of the (already padded) ``xp4`` (N, C, H, W) at the ``out`` = (OH, OW)
    output positions, gathered by advanced indexing (differentiable, double backward too)."""
    be = _backend(xp4)
    I, J = _index(kernel, dilation, stride, out)
    return getitem(xp4, (slice(None), slice(None), be.asarray(I), be.asarray(J)))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C, H, W) or (C, H, W) -> (N, C·kh·kw, L) or (C·kh·kw, L): the sliding blocks as columns."""
    fn = "unfold"
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim not in (3, 4):
        raise NotImplementedError(f"{fn}: only 4-D (N, C, H, W) or 3-D unbatched (C, H, W) input is supported, got "
                                  f"shape {tuple(x.shape)}")
    unbatched = x.ndim == 3
    x4 = x.unsqueeze(0) if unbatched else x
    k, d, p, s = _geometry(kernel_size, dilation, padding, stride, fn)
    n, c, h, w = x4.shape
    out = _blocks((h, w), k, d, p, s, fn)
    xp4 = pad(x4, (p[1], p[1], p[0], p[0])) if p[0] or p[1] else x4
    cols = windows(xp4, k, d, s, out).reshape(n, c * k[0] * k[1], out[0] * out[1])
    return cols[0] if unbatched else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C·kh·kw, L) or (C·kh·kw, L) -> (N, C, H, W) or (C, H, W): the columns summed back into the image
    (overlapping blocks add), the inverse layout of :func:`unfold`."""
    fn = "fold"
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim not in (2, 3):
        raise NotImplementedError(f"{fn}: only 3-D (N, C·kh·kw, L) or 2-D unbatched input is supported, got shape "
                                  f"{tuple(x.shape)}")
    unbatched = x.ndim == 2
    x3 = x.unsqueeze(0) if unbatched else x
    k, d, p, s = _geometry(kernel_size, dilation, padding, stride, fn)
    H, W = tuple_arg(output_size, 2, "output_size", fn, 1)
    out = _blocks((H, W), k, d, p, s, fn)
    n, ckk, L = x3.shape
    if ckk % (k[0] * k[1]):
        raise RuntimeError(f"{fn}: expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size, but got input.size(1)={ckk} and kernel_size={k}")
    if L != out[0] * out[1]:
        raise RuntimeError(f"{fn}: given output_size={(H, W)}, kernel_size={k}, dilation={d}, padding={p}, "
                           f"stride={s}, expected size of input's dimension 2 to match the calculated number of "
                           f"sliding blocks {out[0]} * {out[1]} = {out[0] * out[1]}, but got input.size(2)={L}.")
    c = ckk // (k[0] * k[1])
    hp, wp = H + 2 * p[0], W + 2 * p[1]
    I, J = _index(k, d, s, out)
    flat = (I * wp + J).reshape(-1)  # each column entry's position in the padded plane
    pos = _backend(x3).asarray(np.ascontiguousarray(np.broadcast_to(flat, (n, c, flat.size))))
    src = x3.reshape(n, c, flat.size)
    img = scatter_add(zeros(n, c, hp * wp, dtype=x3.dtype, device=x3.device), 2, Tensor._make(pos, False, None), src)
    img = img.reshape(n, c, hp, wp)
    if p[0] or p[1]:
        img = img[:, :, p[0]:p[0] + H, p[1]:p[1] + W]
    return img[0] if unbatched else img
