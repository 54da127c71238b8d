"""The reference attention (scaled, masked softmax of the scores) ops of every backend: a mixin of
:class:`~.base.Backend`, written against ``self.xp`` alone. The NumPy (:mod:`._numpy_attn`) and CuPy
(:mod:`._cupy_attn`) mixins override what they speed up and call ``super()`` for what they do not handle.

The scores ``s`` are ``(*batch, L, S)`` (query rows against key columns). A mask is None, a bool array (True: the
key takes part) or a float array added to the scaled scores, broadcastable to ``s``; ``causal`` also masks every
key ``j > i`` (PyTorch's top-left aligned ``tril``). A row with no key left gives zeros when ``safe`` (as
``torch.nn.functional.scaled_dot_product_attention``) and NaN otherwise (as ``torch.softmax`` of an all ``-inf``
row, what ``MultiheadAttention(need_weights=True)`` returns).
"""
from __future__ import annotations

import numpy as np


def mask_layout(xp, mask, batch_shape, cache=None):
    """How a kernel reads ``mask`` (broadcastable to ``(*batch_shape, L, S)``) without broadcasting it in memory:
    ``(flat, offsets, stride_i, stride_j)`` where element ``(b, i, j)`` of the broadcast mask is
    ``flat[offsets[b] + i * stride_i + j * stride_j]`` for the flat batch index ``b`` (strides 0 along broadcast
    dims). ``offsets`` is an int64 array on the mask's device, kept in ``cache`` (a dict) by shape."""
    m = xp.ascontiguousarray(mask)
    nb = len(batch_shape)
    shape = (1,) * (nb + 2 - m.ndim) + tuple(m.shape)
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc if d != 1 else 0)
        acc *= d
    strides.reverse()
    key = (shape, tuple(batch_shape))
    off = cache.get(key) if cache is not None else None
    if off is None:
        host = np.zeros(tuple(batch_shape), np.int64)
        for d in range(nb):
            if strides[d]:
                idx = np.arange(batch_shape[d], dtype=np.int64) * strides[d]
                host += idx.reshape((-1,) + (1,) * (nb - d - 1))
        off = xp.asarray(host.reshape(-1))
        if cache is not None:
            cache[key] = off
    return m.reshape(-1), off, strides[-2], strides[-1]


class AttnOps:
    """Reference attention (scaled, masked softmax of the scores) ops."""

    def attn_softmax_forward(self, s, scale: float, mask=None, causal: bool = False, safe: bool = True):
        """``p = softmax(s · scale + mask)`` over the last axis (masked keys excluded); ``s`` may be overwritten
        (the caller's scratch)."""
        xp = self.xp
        z = s * s.dtype.type(scale)
        if mask is not None:
            z = xp.where(mask, z, -np.inf) if mask.dtype == np.bool_ else z + mask
        if causal:
            rows, cols = z.shape[-2:]
            z = xp.where(xp.tril(xp.ones((rows, cols), dtype=bool)), z, -np.inf)
        z = z.astype(s.dtype, copy=False)
        m = z.max(axis=-1, keepdims=True)
        if safe:
            m = xp.where(m == -np.inf, 0, m).astype(s.dtype, copy=False)
        with np.errstate(invalid="ignore"):  # −inf − (−inf): the NaN of an unsafe, fully masked row
            e = xp.exp(z - m)
        t = e.sum(axis=-1, keepdims=True)
        if safe:
            t = xp.where(t == 0, 1, t).astype(s.dtype, copy=False)
        return e / t

    def attn_softmax_backward(self, p, dp, mult: float = 1.0):
        """``ds = p ⊙ (dp − Σ_j dp ⊙ p) · mult`` per row (the softmax's vector-Jacobian product, times the score
        scale where the caller folds it in); ``dp`` may be overwritten (the caller's scratch)."""
        t = (dp * p).sum(axis=-1, keepdims=True)
        return (p * (dp - t)) * p.dtype.type(mult)

    def bmm(self, a, b, out=None):
        """``a @ b`` batched over the leading dims (broadcasting), into ``out`` (a view of any layout: a head's
        slice of a packed buffer) when given."""
        if out is None:
            return self.xp.matmul(a, b)
        out[...] = self.xp.matmul(a, b)
        return out
