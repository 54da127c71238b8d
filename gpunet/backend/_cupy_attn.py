"""The CuPy backend's attention (scaled, masked softmax of the scores) ops (CUDA kernels of ``kernels/attn.cu``):
a mixin of :class:`~.cupy_backend.CupyBackend`, which supplies ``xp`` and the guards ``_fusable`` and
``_unused``; ``super()`` is the reference (:class:`~._attn_ops.AttnOps`), for what the kernels do not handle.

Forward and backward are ONE launch each, one block per score row, in place; the mask is read through
:func:`._attn_ops.mask_layout` (never broadcast in memory).
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._attn_ops import mask_layout
from ._cuda_launch import _MAX_GRID_X

MASK_NONE, MASK_BOOL, MASK_ADD = 0, 1, 2  # GN_MASK_* in kernels/attn.cu


def _row_threads(cols: int) -> int:
    """Threads per block of a one-block-per-row launch: a power of two in [32, 256]."""
    return min(256, max(32, 1 << max(cols - 1, 0).bit_length()))


class CupyAttn:
    """attention (scaled, masked softmax of the scores) on the GPU."""

    def attn_softmax_forward(self, s, scale, mask=None, causal=False, safe=True):
        ok = s.ndim >= 2 and self._fusable(s)
        if ok and mask is not None:
            ok = isinstance(mask, self.xp.ndarray) and mask.size > 0 and (
                mask.dtype == np.bool_ or (mask.dtype == s.dtype))
        if not ok:
            return super().attn_softmax_forward(s, scale, mask, causal, safe)
        L, cols = s.shape[-2:]
        rows = s.size // cols
        T = s.dtype.type
        if mask is None:
            kind, bmask, fmask, moff, msi, msj = MASK_NONE, self._unused(np.bool_), s, self._unused(np.int64), 0, 0
        else:
            cache = self.__dict__.setdefault("_attn_offsets", {})
            flat, moff, msi, msj = mask_layout(self.xp, mask, s.shape[:-2], cache)
            if mask.dtype == np.bool_:
                kind, bmask, fmask = MASK_BOOL, flat, s
            else:
                kind, bmask, fmask = MASK_ADD, self._unused(np.bool_), flat
        threads = _row_threads(cols)
        K.kernel("attn_softmax_forward")(s.dtype)((min(rows, _MAX_GRID_X),), (threads,), (
            s, bmask, fmask, moff, np.int64(rows), np.int64(L), np.int64(cols), np.int64(msi), np.int64(msj),
            np.int32(kind), np.int32(bool(causal)), np.int32(bool(safe)), T(scale)),
            shared_mem=threads * s.itemsize)
        return s

    def attn_softmax_backward(self, p, dp, mult=1.0):
        if not (p.ndim >= 2 and self._fusable(p, dp) and dp.shape == p.shape):
            return super().attn_softmax_backward(p, dp, mult)
        cols = p.shape[-1]
        rows = p.size // cols
        threads = _row_threads(cols)
        K.kernel("attn_softmax_backward")(p.dtype)((min(rows, _MAX_GRID_X),), (threads,), (
            p, dp, np.int64(rows), np.int64(cols), p.dtype.type(mult)), shared_mem=threads * p.itemsize)
        return dp
