"""The Tensor's indexing methods (gather, scatter, masked_fill, split, flip, repeat ...), bound to the ops in
:mod:`gpunet.functional.indexing` and :mod:`gpunet.functional.rearrange` (a mixin of Tensor)."""
from __future__ import annotations

from ._tensor_math import _m


class TensorIndexing:
    __slots__ = ()

    # ----------------------------------------------------------------- indexing ops (functional.indexing)
    def gather(self, dim, index):
        return _m().gather(self, dim, index)

    def scatter(self, dim, index, src=None, *, value=None):
        return _m().scatter(self, dim, index, src, value=value)

    def scatter_add(self, dim, index, src):
        return _m().scatter_add(self, dim, index, src)

    def index_select(self, dim, index):
        return _m().index_select(self, dim, index)

    def masked_fill(self, mask, value):
        return _m().masked_fill(self, mask, value)

    def masked_select(self, mask):
        return _m().masked_select(self, mask)

    def tril(self, diagonal=0):
        return _m().tril(self, diagonal)

    def triu(self, diagonal=0):
        return _m().triu(self, diagonal)

    def split(self, split_size, dim=0):
        return _m().split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return _m().chunk(self, chunks, dim)

    def unbind(self, dim=0):
        return _m().unbind(self, dim)

    def flip(self, *dims):
        """``x.flip(0, 1)`` or ``x.flip((0, 1))``."""
        if not dims:
            raise TypeError('flip() missing 1 required positional arguments: "dims"')
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _m().flip(self, dims)

    def roll(self, shifts, dims=None):
        return _m().roll(self, shifts, dims)

    def repeat(self, *sizes):
        """``x.repeat(2, 3)`` or ``x.repeat((2, 3))``: tiled along each dim (extra sizes add leading dims)."""
        if not sizes:
            raise TypeError('repeat() missing 1 required positional arguments: "repeats"')
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        return _m().repeat(self, sizes)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        return _m().repeat_interleave(self, repeats, dim, output_size=output_size)

    def where(self, condition, other):
        """``x.where(cond, y)``: ``x`` where ``cond`` else ``y`` (as torch)."""
        return _m().where(condition, self, other)
