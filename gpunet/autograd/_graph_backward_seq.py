"""``backward_graph`` of the sequence layers (double backward), each by differentiating its forward rewritten with
ops that differentiate again (:func:`~._graph_backward.through_composite`):

- attention (scaled dot-product, packed self-attention, the masked softmax): ``softmax(q kᵀ·scale + mask) v`` with
  the masks as ``where``/addition, forward's dropout mask as a constant and its fully masked rows kept at zero;
- embedding: a row gather (``padding_idx`` and ``scale_grad_by_freq`` shape the gradient, not the values);
- recurrent layers (RNN, LSTM, GRU, one layer-direction): the recurrence unrolled, per step two matmuls and
  PyTorch's cell formulas.
"""
from __future__ import annotations

import numpy as np

from ..functional._rnn_layer import RecurrentLayer
from ..functional.attention import MaskedSoftmax, PackedSelfAttention, ScaledDotProductAttention
from ..functional.embedding import EmbeddingFunction
from ..functional.math import matmul, reshape
from ._graph_backward import const, through_composite


# ====================================================================== attention and embedding
def _masked_scores(fn, s, mask, scale, causal, dead):
    """softmax(s·scale + mask) as differentiable ops, rows with no key left (``dead``, from forward) zeros."""
    from ..functional.activation import softmax
    from ..functional.math import where

    z = s * scale
    if mask is not None:
        m = mask.data if hasattr(mask, "data") and hasattr(mask, "grad_fn") else mask
        if getattr(m, "dtype", None) == np.bool_:
            z = where(const(fn, m), z, -np.inf)
        else:
            z = z + mask
    if causal:
        rows, cols = z.shape[-2:]
        z = where(const(fn, fn.backend.xp.tril(fn.backend.xp.ones((rows, cols), dtype=bool))), z, -np.inf)
    if dead is None:
        return softmax(z, dim=-1)
    d = const(fn, dead)
    return where(d, 0.0, softmax(where(d, 0.0, z), dim=-1))


def _dead_rows(fn):
    """The score rows forward left with no key (all zeros in its softmax), or None."""
    dead = fn.p.sum(axis=-1, keepdims=True) == 0
    return dead if bool(dead.any()) else None


def _sdpa(self, g):
    scale, causal, drop, dead = self.scale, self.params_causal, self.drop, _dead_rows(self)

    def build(q, k, v, mask):
        p = _masked_scores(self, matmul(q, k.transpose(-1, -2)), mask, scale, causal, dead)
        if drop is not None:
            p = p * const(self, drop)
        return matmul(p, v)
    return through_composite(self, g, build)


def _packed_self_attention(self, g):
    scale, causal, drop, dead = self.scale, self.params_causal, self.drop, _dead_rows(self)
    H, bf, shape = self.heads, self.batch_first, self.shape

    def build(qkv, mask):
        a, b_, width = shape
        D = width // (3 * H)
        t = reshape(qkv, (a, b_, 3, H, D)).permute(2, 0, 3, 1, 4) if bf else \
            reshape(qkv, (a, b_, 3, H, D)).permute(2, 1, 3, 0, 4)  # (3, N, H, L, D)
        q, k, v = t[0], t[1], t[2]
        p = _masked_scores(self, matmul(q, k.transpose(-1, -2)), mask, scale, causal, dead)
        if drop is not None:
            p = p * const(self, drop)
        o = matmul(p, v)  # (N, H, L, D)
        o = o.permute(0, 2, 1, 3) if bf else o.permute(2, 0, 1, 3)
        return reshape(o, (a, b_, H * D))
    return through_composite(self, g, build)


def _masked_softmax(self, g):
    scale, causal, dead = self.scale, self.params_causal, _dead_rows(self)
    return through_composite(self, g, lambda s, mask: _masked_scores(self, s, mask, scale, causal, dead))


def _embedding(self, g):
    from ..functional.indexing import index_select

    idx, num, pad_idx, by_freq = self.idx, self.num, self.padding_idx, self.scale
    flat = idx.reshape(-1)
    xp = self.backend.xp
    keep = None if pad_idx is None else const(self, (flat != pad_idx)[:, None].astype(g.dtype))
    inv = None
    if by_freq:
        counts = xp.bincount(flat, minlength=num)
        inv = const(self, (1.0 / counts[flat]).astype(g.dtype)[:, None])

    def build(_idx, w):
        it = const(self, flat)
        rows = index_select(w, 0, it)
        if keep is not None or inv is not None:  # the values of the rows, the gradient scaled / blocked
            fixed = index_select(const(self, w.data), 0, it)
            rows = fixed + (rows - fixed) * (keep if inv is None else (inv if keep is None else keep * inv))
        return reshape(rows, tuple(idx.shape) + (w.shape[1],))
    return through_composite(self, g, build)



# ====================================================================== recurrent layers
def _recurrent(self, g):
    """The layer-direction unrolled: per step the gates from two matmuls and PyTorch's cell formulas."""
    from ..functional.activation import ReLU, Sigmoid, Tanh
    from ..functional._rnn_layer import GATES
    from ..functional.shape import Stack

    mode, reverse = self.mode, self.reverse
    lstm, gru = mode == "lstm", mode == "gru"

    def build(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
        L = x.shape[0]
        H = W_hh.shape[1]
        gx = matmul(x, W_ih.transpose(0, 1))
        if b_ih is not None:
            gx = gx + b_ih
        h, c = h0, c0
        states = [None] * (L + 1)
        states[L if reverse else 0] = h0
        for t in (range(L - 1, -1, -1) if reverse else range(L)):
            gh = matmul(h, W_hh.transpose(0, 1))
            if b_hh is not None:
                gh = gh + b_hh
            gt = gx[t]
            if lstm:
                a = gt + gh
                i, f = Sigmoid.apply(a[:, :H]), Sigmoid.apply(a[:, H:2 * H])
                gg, o = Tanh.apply(a[:, 2 * H:3 * H]), Sigmoid.apply(a[:, 3 * H:])
                c = f * c + i * gg
                h = o * Tanh.apply(c)
            elif gru:
                r = Sigmoid.apply(gt[:, :H] + gh[:, :H])
                z = Sigmoid.apply(gt[:, H:2 * H] + gh[:, H:2 * H])
                n = Tanh.apply(gt[:, 2 * H:] + r * gh[:, 2 * H:])
                h = (1 - z) * n + z * h
            else:
                a = gt + gh
                h = ReLU.apply(a) if mode == "rnn_relu" else Tanh.apply(a)
            states[t if reverse else t + 1] = h
        if lstm:
            states.append(c)
        return Stack.apply(*states, axis=0)
    assert mode in GATES
    return through_composite(self, g, build)


_METHODS = {ScaledDotProductAttention: _sdpa, PackedSelfAttention: _packed_self_attention,
            MaskedSoftmax: _masked_softmax, EmbeddingFunction: _embedding, RecurrentLayer: _recurrent}
for _cls, _m in _METHODS.items():
    _cls.backward_graph = _m
