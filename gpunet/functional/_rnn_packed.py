"""Recurrent layers over a :class:`~gpunet.nn.utils.rnn.PackedSequence`: only each sequence's own steps run.

The batch of a packed sequence shrinks over time (longest sequences first), so its time steps fall into segments
of constant batch size b. Each segment is one :class:`~._rnn_layer.RecurrentLayer` node over the first b rows (its
input is a contiguous slice of the packed data, its output the same slice of the packed output):

- forward direction, segments in time order: a segment starts from the state the previous one ended in (its
  first b rows); the rows that stop after a segment end there, and that state is their h_n (c_n);
- reverse direction, segments from the last: the rows that join at a segment (their last step) start from h_0,
  the others from the state the later segment ended in; h_n is the state after the first segment (all rows).

So no step runs on padding, and h_n is each sequence's state after its own last step, as PyTorch's.
"""
from __future__ import annotations

import numpy as np

from ._rnn_layer import RecurrentLayer
from .indexing import index_select
from .recurrent import stack_layers
from .shape import Concatenate, Stack


def segments(batch_sizes) -> list:
    """``[(t0, t1, b)]``: the runs of steps [t0, t1) with the same batch size b."""
    out = []
    for t, b in enumerate(batch_sizes):
        if out and out[-1][2] == b:
            out[-1][1] = t + 1
        else:
            out.append([t, t + 1, int(b)])
    return [tuple(s) for s in out]


def _cat(parts):
    return parts[0] if len(parts) == 1 else Concatenate.apply(*parts, axis=0)


def _direction(mode, inp, segs, offsets, h0, c0, w, reverse):
    """``(out, h_n, c_n)`` of one layer-direction: ``out`` the packed output (Σ lengths, H)."""
    lstm = mode == "lstm"
    H = w[1].shape[1]
    F = inp.shape[1]
    outs = [None] * len(segs)
    h = c = None
    ends_h, ends_c = [], []
    for k in (reversed(range(len(segs))) if reverse else range(len(segs))):
        t0, t1, b = segs[k]
        L = t1 - t0
        if h is None:
            hk, ck = h0[:b], (c0[:b] if lstm else None)
        elif h.shape[0] >= b:
            hk, ck = h[:b], (c[:b] if lstm else None)
        else:  # reverse: the rows whose last step is here join, from h_0
            n = h.shape[0]
            hk = Concatenate.apply(h, h0[n:b], axis=0)
            ck = Concatenate.apply(c, c0[n:b], axis=0) if lstm else None
        xs = inp[offsets[t0]:offsets[t1]].reshape(L, b, F)
        S = RecurrentLayer.apply(xs, hk, ck, *w, mode=mode, reverse=reverse)
        if reverse:
            outs[k], h = S[0:L].reshape(L * b, H), S[0]
        else:
            outs[k], h = S[1:L + 1].reshape(L * b, H), S[L]
        c = S[L + 1] if lstm else None
        if not reverse:
            b_next = segs[k + 1][2] if k + 1 < len(segs) else 0
            ends_h.append(h[b_next:b])
            if lstm:
                ends_c.append(c[b_next:b])
    if reverse:
        return _cat(outs), h, c
    return _cat(outs), _cat(ends_h[::-1]), (_cat(ends_c[::-1]) if lstm else None)


def run(mode, data, batch_sizes, sorted_indices, unsorted_indices, h0, c0, weights, num_layers: int, D: int,
        dropout: float, training: bool, zeros):
    """The stacked network over packed ``data`` (Σ lengths, H_in); ``h0``/``c0`` (D·layers, N, H) in the caller's
    batch order or None; ``zeros(n)`` makes an (n, H) zero state. Returns ``(out_data, h_n, c_n)``, h_n/c_n in
    the caller's order (c_n None unless LSTM)."""
    lstm = mode == "lstm"
    bs = [int(b) for b in batch_sizes]
    segs = segments(bs)
    offsets = np.concatenate([[0], np.cumsum(bs)]).astype(np.int64)
    N = bs[0]
    if sorted_indices is not None and h0 is not None:
        h0 = index_select(h0, 1, sorted_indices)
        c0 = index_select(c0, 1, sorted_indices) if lstm else None
    zero = zeros(N) if h0 is None else None

    def direction(inp, k, reverse):
        hk, ck = (zero, zero if lstm else None) if h0 is None else (h0[k], c0[k] if lstm else None)
        return _direction(mode, inp, segs, offsets, hk, ck, weights[4 * k:4 * k + 4], reverse)
    inp, hs, cs = stack_layers(data, num_layers, D, direction, dropout, training)
    h_n = Stack.apply(*hs, axis=0)
    c_n = Stack.apply(*cs, axis=0) if lstm else None
    if unsorted_indices is not None:
        h_n = index_select(h_n, 1, unsorted_indices)
        c_n = index_select(c_n, 1, unsorted_indices) if lstm else None
    return inp, h_n, c_n
