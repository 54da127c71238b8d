"""``embedding_bag``: the sum, mean or max of bags of embedding rows, as ``torch.nn.functional.embedding_bag``.

The rows are looked up with :func:`~.embedding.embedding` (its scatter-add weight gradient), then reduced per bag:
'sum' and 'mean' as ONE ``index_add`` of the rows, each scaled by its per-sample weight (or 1/bag size), into the
(B, D) output; 'max' as the max over the bags gathered into a (B, longest bag, D) block padded with −inf. Entries
equal to ``padding_idx`` are left out of their bag (and of its size); an empty bag gives zeros. The bag structure
(the offsets, and the indices when a ``padding_idx`` is given) is read on the host.
"""
from __future__ import annotations

import numpy as np

from ..autograd.creation import as_tensor, full, tensor, zeros
from ..autograd.tensor import Tensor
from .elementwise import where
from .embedding import check_padding_idx, embedding
from .indexing import index_select
from .indexing_inplace import index_add
from .reduction import amax
from .shape import Concatenate

__all__ = ["embedding_bag"]

MODES = ("sum", "mean", "max")


def _host(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)


def _bags(x, offsets, include_last_offset: bool, op: str):
    """``(flat indices, bag id of each (−1: in no bag), number of bags)``."""
    if x.ndim == 2:
        if offsets is not None:
            raise ValueError(f"if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {type(offsets).__name__}")
        b, n = x.shape
        return x.reshape(-1), np.repeat(np.arange(b, dtype=np.int64), n), b
    if x.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {x.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    off = _host(offsets)
    if off.ndim != 1:
        raise ValueError(f"offsets has to be a 1D Tensor, got shape {tuple(off.shape)}")
    if off.dtype.kind not in "iu":
        raise TypeError(f"{op}: offsets must be integers, got dtype {off.dtype}")
    off = off.astype(np.int64)
    n = x.shape[0]
    if off.size and off[0] != 0:
        raise ValueError(f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                         f"position 0. However, got {int(off[0])}")
    if np.any(np.diff(off) < 0) or (off.size and off[-1] > n):
        raise ValueError(f"{op}: offsets must be non-decreasing and at most the input's length {n}, got "
                         f"{off.tolist()}")
    if include_last_offset and off.size and off[-1] != n:
        # torch's CPU kernel then runs the last bag to the end of the input whatever offsets[-1] says
        raise ValueError(f"{op}: with include_last_offset=True the last offset closes the last bag and must be the "
                         f"input's length {n} (CSR format), got offsets[-1] = {int(off[-1])}; pass offsets ending "
                         f"in {n}, or include_last_offset=False with the bags' start offsets only")
    ends = off[1:] if include_last_offset else np.append(off[1:], n)
    starts = off[:-1] if include_last_offset else off
    bag = np.full(n, -1, dtype=np.int64)  # (−1: in no bag, as for an empty offsets)
    if starts.size:  # the bags are consecutive from position 0
        bag[:ends[-1]] = np.repeat(np.arange(starts.size, dtype=np.int64), ends - starts)
    return x, bag, len(starts)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2, scale_grad_by_freq: bool = False,
                  mode: str = "mean", sparse: bool = False, per_sample_weights=None, include_last_offset: bool = False,
                  padding_idx=None) -> Tensor:
    """(B, D): bag b reduced by ``mode`` over the rows of ``weight`` its indices name. ``input`` is (B, N)
    (bags of N), or 1-D with ``offsets`` (bag b is input[offsets[b]:offsets[b + 1]]; ``include_last_offset``:
    offsets has B + 1 entries, the last the end). ``per_sample_weights`` (input's shape) scales each row, for
    ``mode='sum'`` only."""
    op = "embedding_bag"
    if mode not in MODES:
        raise ValueError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  f"GitHub.")
    x = input if isinstance(input, Tensor) else as_tensor(input)
    flat, bag, nbags = _bags(x, offsets, include_last_offset, op)
    psw = None
    if per_sample_weights is not None:
        psw = per_sample_weights if isinstance(per_sample_weights, Tensor) else as_tensor(per_sample_weights)
        if tuple(psw.shape) != tuple(x.shape):
            raise ValueError(f"{op}: per_sample_weights must have the input's shape {tuple(x.shape)}, got "
                             f"{tuple(psw.shape)}")
        psw = psw.reshape(-1)
    num = weight.shape[0]
    padding_idx = check_padding_idx(padding_idx, num, op)
    rows = embedding(flat, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)  # (n, D)
    valid = bag >= 0
    if padding_idx is not None:
        valid &= _host(flat) != padding_idx
    d = weight.shape[1]
    dev, dt = rows.device, rows.dtype
    sizes = np.bincount(bag[valid], minlength=nbags) if nbags else np.zeros(0, np.int64)
    if mode == "max":
        longest = int(sizes.max()) if nbags else 0
        if longest == 0:
            return zeros(nbags, d, dtype=dt, device=dev)
        pos = np.full((nbags, longest), flat.shape[0], dtype=np.int64)  # the −inf row by default
        kept = np.flatnonzero(valid)
        kb = bag[kept]  # non-decreasing: bags are consecutive
        pos[kb, np.arange(kept.size) - np.searchsorted(kb, kb)] = kept  # each entry's rank in its bag
        ext = Concatenate.apply(rows, full((1, d), -np.inf, dtype=dt, device=dev), axis=0)
        blocks = index_select(ext, 0, tensor(pos.reshape(-1), device=dev)).reshape(nbags, longest, d)
        out = amax(blocks, dim=1)
        empty = sizes == 0
        if empty.any():
            out = where(tensor(empty[:, None], device=dev), zeros(1, 1, dtype=dt, device=dev), out)
        return out
    coef = valid.astype(dt)
    if mode == "mean":
        coef = coef / np.maximum(sizes, 1)[np.maximum(bag, 0)].astype(dt)
    scale = tensor(coef[:, None], device=dev)
    if psw is not None:
        scale = scale * psw.reshape(-1, 1)
    target = tensor(np.where(bag >= 0, bag, nbags), device=dev)  # rows in no bag go to a spare row
    out = index_add(zeros(nbags + 1, d, dtype=dt, device=dev), 0, target, rows * scale)
    return out[:nbags]
