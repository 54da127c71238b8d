"""Embedding lookup as ONE Function: a gather forward, a scatter-add of the output gradient into the weight's rows
backward (repeated indices summed; never a dense one-hot).

Indices are integer Tensors (or arrays, or lists) of any shape. An index outside [0, num_embeddings) raises
:class:`~gpunet.functional.indexing.IndexOutOfBoundsError` (an ``IndexError`` and a ``RuntimeError``): at once on
the CPU (and for host indices, before they move to the GPU); for indices already on the GPU the check runs on the
device and is reported at the next host read (the lookup reads the nearest valid row meanwhile), so a training
step needs no synchronisation.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend as _backend
from ..autograd import inplace as _inplace
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from .indexing import IndexOutOfBoundsError

__all__ = ["embedding", "EmbeddingFunction"]


class EmbeddingFunction(Function):
    """``out[..., :] = weight[input[...], :]``; the weight's gradient is ``Σ_{i: input_i = r} grad_i`` per row r."""
    arg_names = ("input", "weight")

    def forward(self, xp, idx, weight, padding_idx=None, scale_grad_by_freq=False):
        out = self.backend.embedding_forward(weight, idx)
        if self.needs_input_grad[1]:
            self.idx, self.num, self.padding_idx, self.scale = idx, weight.shape[0], padding_idx, scale_grad_by_freq
        return out

    def backward(self, xp, g):
        d = g.shape[-1]
        g2 = g.reshape(-1, d)
        idx = self.idx.reshape(-1)
        if self.scale:  # each row's gradient divided by how often its index occurs in the batch
            counts = xp.bincount(idx, minlength=self.num)
            g2 = g2 / counts[idx].astype(g2.dtype)[:, None]
        return None, self.backend.embedding_backward(g2, idx, self.num, self.padding_idx)


def _data(a):
    return a.data if isinstance(a, Tensor) else a


def check_padding_idx(padding_idx, num_embeddings: int, op: str):
    """``padding_idx`` in [0, num_embeddings) (a negative one counts from the end, as torch), or None."""
    if padding_idx is None:
        return None
    p = int(padding_idx)
    if not -num_embeddings <= p < num_embeddings:
        raise ValueError(f"{op}: padding_idx={padding_idx} must be within num_embeddings={num_embeddings} "
                         f"(in [{-num_embeddings}, {num_embeddings}))")
    return p + num_embeddings if p < 0 else p


def _indices(input, w, op: str):
    """``input`` as an integer array on the weight's device, checked to lie in [0, num_embeddings). Host arrays
    and lists are checked on the host, before they move (no device check needed); a Tensor on another device is
    left for the op's device check to refuse."""
    arr = _data(input)
    host = not isinstance(input, Tensor) and isinstance(arr, (list, tuple, int, np.integer, np.ndarray))
    if host:
        arr = np.asarray(arr)
    dt = getattr(arr, "dtype", None)
    if dt is None or np.dtype(dt).kind not in "iu":
        raise TypeError(f"{op}: indices must be integers (int64 or int32), got "
                        f"{dt if dt is not None else type(input).__name__}; convert them with .long() or "
                        f"astype('int64') (an index is a row number of the weight, not a value to embed)")
    _check_range(arr, w.shape[0], op)
    return _backend.backend_of((w,)).asarray(arr) if host else arr


def _check_range(idx, num: int, op: str) -> None:
    be = _backend.backend_of((idx,))

    def report(flat):
        host = be.to_host(idx)
        pos = tuple(int(i) for i in np.unravel_index(flat, host.shape))
        value = int(host.reshape(-1)[flat])
        raise IndexOutOfBoundsError(
            f"{op}: index {value} at position {pos} is out of range: indices must be in [0, {num}) for "
            f"num_embeddings={num} (negative indices are not allowed). Check the vocabulary size and that "
            f"token ids start at 0.{be.deferred_note}")

    be.check_labels(idx, num, None, report)


def _renorm_(weight, idx, max_norm: float, norm_type: float) -> None:
    """Rows of ``weight`` named in ``idx`` whose ``norm_type``-norm exceeds ``max_norm`` are scaled in place to
    norm ``max_norm`` (by max_norm / (norm + 1e-7), as torch); the weight's version counter is bumped."""
    w = _data(weight)
    xp = _backend.backend_of((w,)).xp
    with no_grad():
        rows = xp.unique(idx.reshape(-1))
        sel = w[rows]
        a = xp.abs(sel)
        p = float(norm_type)
        if math.isinf(p):
            norms = a.max(axis=1) if p > 0 else a.min(axis=1)
        elif p == 2:
            norms = xp.sqrt((a * a).sum(axis=1))
        elif p == 1:
            norms = a.sum(axis=1)
        else:
            norms = (a ** p).sum(axis=1) ** (1 / p)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1).astype(w.dtype)
        w[rows] = sel * scale[:, None]
    if isinstance(weight, Tensor):
        _inplace.bump(weight, False)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) for the integer ``input`` of any shape, as
    ``torch.nn.functional.embedding``: the output has shape ``input.shape + (embedding_dim,)``.

    ``padding_idx``: that row gets no gradient. ``max_norm``: before the lookup, every row named in ``input``
    whose ``norm_type``-norm exceeds it is rescaled in place to that norm (under no_grad). ``scale_grad_by_freq``:
    each row's gradient is divided by how often its index occurs in ``input``.
    """
    op = "embedding"
    w = _data(weight)
    if not hasattr(w, "ndim") or w.ndim != 2:
        raise ValueError(f"{op}: weight must be a 2-D (num_embeddings, embedding_dim) tensor, got shape "
                         f"{tuple(getattr(w, 'shape', ()))}")
    if sparse:
        raise NotImplementedError(f"{op}: sparse=True (a sparse weight gradient) is not supported; use "
                                  f"sparse=False: the dense gradient, summed by a scatter-add")
    num = w.shape[0]
    padding_idx = check_padding_idx(padding_idx, num, op)
    idx = _indices(input, w, op)
    if max_norm is not None:
        _renorm_(weight, idx, float(max_norm), norm_type)
    return EmbeddingFunction.apply(idx if not isinstance(input, Tensor) else input, weight,
                                   padding_idx=padding_idx, scale_grad_by_freq=bool(scale_grad_by_freq))
