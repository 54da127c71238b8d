"""Rearranging ops as PyTorch names them: tril/triu, split/chunk/unbind, flip/roll, repeat/repeat_interleave.

split/chunk/unbind return views (basic slices through :func:`~.shape.getitem`), as torch; flip and roll copy.
"""
from __future__ import annotations

import operator

import numpy as np

from ..autograd._dims import canonical_dim, canonical_dims
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from .. import backend as _backend
from .indexing import _data, _int_index, _ints
from .shape import getitem, reshape

__all__ = ["tril", "triu", "split", "chunk", "unbind", "flip", "roll", "repeat", "repeat_interleave", "pixel_shuffle",
           "pixel_unshuffle"]


class Tri(Function):
    def forward(self, xp, a, k=0, upper=False):
        self.k, self.upper = k, upper
        return xp.triu(a, k) if upper else xp.tril(a, k)

    def backward(self, xp, g):
        return (xp.triu(g, self.k) if self.upper else xp.tril(g, self.k),)


class Flip(Function):
    def forward(self, xp, a, dims=()):
        self.dims = dims
        return xp.flip(a, axis=dims).copy() if dims else a.copy()

    def backward(self, xp, g):
        return (xp.flip(g, axis=self.dims) if self.dims else g,)


class Roll(Function):
    def forward(self, xp, a, shifts=(), dims=None):
        self.shifts, self.dims = shifts, dims
        return xp.roll(a, shifts, axis=dims)

    def backward(self, xp, g):
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return (xp.roll(g, back, axis=self.dims),)


class Repeat(Function):
    def forward(self, xp, a, sizes=()):
        self.shape = a.shape
        lead = (1,) * (len(sizes) - a.ndim)
        self.full = lead + tuple(a.shape)
        self.sizes = sizes
        return xp.tile(a.reshape(self.full), sizes)

    def backward(self, xp, g):
        inter = []
        for r, s in zip(self.sizes, self.full):
            inter += [r, s]
        g = g.reshape(inter).sum(axis=tuple(range(0, 2 * len(self.sizes), 2)))
        return (g.reshape(self.shape),)


class RepeatInterleave(Function):
    """``repeats`` an int (backward: a reshape and a sum) or a host list, one per slice (backward: scatter_add
    through the repeated positions)."""

    def forward(self, xp, a, repeats=1, dim=0):
        self.shape, self.dim, self.repeats = a.shape, dim, repeats
        if isinstance(repeats, int):
            return xp.repeat(a, repeats, axis=dim)
        self.src = xp.asarray(np.repeat(np.arange(a.shape[dim]), repeats))
        return xp.take(a, self.src, axis=dim)

    def backward(self, xp, g):
        d, r = self.dim, self.repeats
        if isinstance(r, int):
            g = g.reshape(self.shape[:d] + (self.shape[d], r) + self.shape[d + 1:])
            return (g.sum(axis=d + 1),)
        out = xp.zeros(self.shape, dtype=g.dtype)
        self.backend.scatter_add(out, (slice(None),) * d + (self.src,), g)
        return (out,)


def _tri(input, diagonal, upper):
    op = "triu" if upper else "tril"
    if _data(input).ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions")
    return Tri.apply(input, k=operator.index(diagonal), upper=upper)


def tril(input, diagonal=0):
    """The lower triangle of the last two dims (elements with ``col - row <= diagonal``); the rest zero."""
    return _tri(input, diagonal, False)


def triu(input, diagonal=0):
    """The upper triangle of the last two dims (elements with ``col - row >= diagonal``); the rest zero."""
    return _tri(input, diagonal, True)


def _narrow(t, dim, start, stop):
    return getitem(t, (slice(None),) * dim + (slice(start, stop),))


def split(tensor, split_size_or_sections, dim=0):
    """Views of ``tensor`` along ``dim``: pieces of ``split_size`` (the last smaller), or of the sizes listed."""
    shape = _data(tensor).shape
    if not shape:
        raise RuntimeError("split: expected a tensor with at least one dimension, got a 0-d tensor")
    dim = canonical_dim(dim, len(shape), "split")
    n = shape[dim]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = _ints(split_size_or_sections, "split", "split_sizes")
        if any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative entries, but got "
                               f"split_sizes={list(sizes)}")
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {dim}), but got split_sizes={list(sizes)}")
    else:
        size = operator.index(split_size_or_sections)
        if size < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
        if size == 0 and n != 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        if n == 0:
            sizes = (0,)
        else:
            sizes = (size,) * (n // size) + ((n % size,) if n % size else ())
    out, start = [], 0
    for s in sizes:
        out.append(_narrow(tensor, dim, start, start + s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """At most ``chunks`` views of ``input`` along ``dim``, each of ``ceil(size / chunks)`` (the last smaller)."""
    chunks = operator.index(chunks)
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    shape = _data(input).shape
    if not shape:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    dim = canonical_dim(dim, len(shape), "chunk")
    n = shape[dim]
    if n == 0:
        return split(input, [0] * chunks, dim)
    return split(input, -(-n // chunks), dim)


def unbind(input, dim=0):
    """The slices of ``input`` along ``dim``, that dim removed (views)."""
    shape = _data(input).shape
    if not shape:
        raise IndexError("unbind: Dimension specified as 0 but tensor has no dimensions")
    dim = canonical_dim(dim, len(shape), "unbind")
    return tuple(getitem(input, (slice(None),) * dim + (i,)) for i in range(shape[dim]))


def flip(input, dims):
    """A copy of ``input`` with the order of the elements along ``dims`` (an int or a sequence) reversed."""
    nd = _data(input).ndim
    dims = canonical_dims(dims, nd, "flip")
    return Flip.apply(input, dims=dims or ())


def roll(input, shifts, dims=None):
    """``input`` rolled by ``shifts`` along ``dims`` (elements leaving one end come back at the other); with
    ``dims`` None, the flattened tensor is rolled and the shape restored."""
    nd = _data(input).ndim
    shifts = _ints(shifts, "roll", "shifts") if isinstance(shifts, (list, tuple)) else (operator.index(shifts),)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        return Roll.apply(input, shifts=shifts[0], dims=None)
    dims = list(dims) if isinstance(dims, (list, tuple)) else [dims]
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    dims = tuple(canonical_dim(d, nd, "roll") for d in dims)
    if nd == 0:
        return Roll.apply(input, shifts=0, dims=None)
    return Roll.apply(input, shifts=shifts, dims=dims)


def repeat(input, sizes):
    """``input`` tiled ``sizes[i]`` times along each dim (as ``torch.Tensor.repeat``; extra sizes add leading
    dims)."""
    sizes = _ints(sizes, "repeat", "sizes")
    nd = _data(input).ndim
    if len(sizes) < nd:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           f"tensor (repeat dims {list(sizes)}, tensor shape {list(_data(input).shape)})")
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"repeat: Trying to create tensor with negative dimension: repeats {list(sizes)}")
    return Repeat.apply(input, sizes=sizes)


def repeat_interleave(input, repeats, dim=None, *, output_size=None):
    """Each element (``dim`` None: of the flattened input) or each slice along ``dim`` repeated ``repeats`` times
    (an int, or an integer tensor with one count per slice, or one count for all)."""
    if dim is None:
        input, dim = reshape(input, (-1,)), 0
    elif _data(input).ndim == 0:
        canonical_dim(dim, 0, "repeat_interleave")
        input, dim = reshape(input, (1,)), 0
    else:
        dim = canonical_dim(dim, _data(input).ndim, "repeat_interleave")
    n = _data(input).shape[dim]
    if isinstance(repeats, (Tensor,)) or hasattr(repeats, "shape"):
        r = _int_index(repeats, input, "repeat_interleave", "repeats")
        if r.ndim > 1:
            raise RuntimeError(f"repeat_interleave: repeats must be 0-dim or 1-dim tensor, got shape "
                               f"{tuple(r.shape)}")
        host = _backend.backend_of((r,)).to_host(r).reshape(-1).tolist()  # the output's size: a host read
        if len(host) == 1:
            repeats = host[0]
        elif len(host) != n:
            raise RuntimeError(f"repeat_interleave: repeats must have the same size as input along dim, but got "
                               f"repeats.size(0) = {len(host)} and input.size({dim}) = {n}")
        else:
            repeats = host
    else:
        repeats = operator.index(repeats)
    if min(repeats if isinstance(repeats, list) else [repeats]) < 0:
        raise RuntimeError("repeat_interleave: Repeats must be non-negative")
    out = RepeatInterleave.apply(input, repeats=repeats, dim=dim)
    if output_size is not None and _data(out).shape[dim] != output_size:
        raise RuntimeError(f"repeat_interleave: allocated size {output_size} does not match the required size "
                           f"{_data(out).shape[dim]}")
    return out


def _as_t(input):
    from ..autograd.creation import as_tensor

    return input if isinstance(input, Tensor) else as_tensor(input)


def pixel_shuffle(input, upscale_factor: int):
    """(*, C·r², H, W) -> (*, C, H·r, W·r), as ``torch.nn.functional.pixel_shuffle``: channel c·r² + i·r + j
    becomes the sub-pixel (i, j) of channel c (a reshape and a transpose: gradients flow back the same way)."""
    x = _as_t(input)
    r = int(upscale_factor)
    if x.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{x.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    n = len(lead)
    y = x.reshape(tuple(lead) + (c // (r * r), r, r, h, w))
    y = y.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(tuple(lead) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor: int):
    """(*, C, H·r, W·r) -> (*, C·r², H, W): the inverse of :func:`pixel_shuffle`."""
    x = _as_t(input)
    r = int(downscale_factor)
    if x.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{x.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *lead, c, hr, wr = x.shape
    if hr % r or wr % r:
        raise RuntimeError(f"pixel_unshuffle expects height ({hr}) and width ({wr}) to be divisible by "
                           f"downscale_factor ({r})")
    n = len(lead)
    y = x.reshape(tuple(lead) + (c, hr // r, r, wr // r, r))
    y = y.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(tuple(lead) + (c * r * r, hr // r, wr // r))
