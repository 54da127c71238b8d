"""The in-place indexing ops as PyTorch names them: ``scatter_``, ``scatter_add_``, ``index_add_`` (and its out
of place ``index_add``) and ``index_fill_``, on the out-of-place machinery of :mod:`.indexing` (re-exported there).
"""
from __future__ import annotations

from ..autograd._dims import canonical_dim
from ..autograd.tensor import Tensor
from .indexing import _backend_of, _data, _in_bounds, _int_index, _scatter, scatter_add

__all__ = ["scatter_", "scatter_add_", "index_add_", "index_add", "index_fill_"]


def scatter_(input, dim, index, src=None, *, value=None, reduce=None):
    """:func:`scatter` written into ``input`` (``reduce='add'`` adds, as torch's scatter_ with reduce)."""
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter_(reduce={reduce!r}) is not supported; only reduce='add' (or use "
                                  f"scatter_reduce out of place)")
    if src is not None and value is not None:
        raise TypeError("scatter_(): give src or value, not both")
    if src is not None and not isinstance(src, Tensor) and not hasattr(src, "shape"):
        src, value = None, src
    if src is None and value is None:
        raise TypeError("scatter_(): missing the src tensor or the value")
    if reduce == "add" and src is None:
        raise NotImplementedError("scatter_(value=..., reduce='add') is not supported; pass a src tensor")
    return _scatter("scatter_", input, dim, index, src, value, reduce == "add", inplace=True)


def scatter_add_(input, dim, index, src):
    """:func:`scatter_add` written into ``input``."""
    return _scatter("scatter_add_", input, dim, index, src, None, True, inplace=True)


def index_add_(input, dim, index, source, *, alpha=1):
    """``input[..., index[i], ...] += alpha · source[..., i, ...]`` along ``dim`` (repeated indices accumulate), in
    place: a scatter_add with ``index`` spread along ``source``'s other dims."""
    idx = _spread_index(input, dim, index, source, "index_add_")
    return scatter_add_(input, dim, idx, source if alpha == 1 else source * alpha)


def index_add(input, dim, index, source, *, alpha=1):
    """Out of place :func:`index_add_`."""
    idx = _spread_index(input, dim, index, source, "index_add")
    return scatter_add(input, dim, idx, source if alpha == 1 else source * alpha)


def index_fill_(input, dim, index, value):
    """The slices at ``index`` (1-d) along ``dim`` set to ``value`` (a number or a 0-d tensor), in place."""
    from ..autograd.inplace import setitem

    a = _data(input)
    dim = canonical_dim(dim, a.ndim, "index_fill_")
    idx = _int_index(index, input, "index_fill_")
    if idx.ndim > 1:
        raise IndexError(f"index_fill_(): Index is supposed to be a vector, got shape {tuple(idx.shape)}")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s).")
    if a.ndim == 0:
        _in_bounds(idx.reshape(-1), 1, "index_fill_", 0)
        setitem(input, Ellipsis, value)
        return input
    idx = _in_bounds(idx.reshape(-1), a.shape[dim], "index_fill_", dim, negative=True)
    setitem(input, (slice(None),) * dim + (idx,), value)
    return input


def _spread_index(input, dim, index, source, op):
    a = _data(input)
    dim = canonical_dim(dim, a.ndim, op)
    idx = _int_index(index, input, op)
    src = _data(source)
    if idx.ndim != 1 or src.ndim != a.ndim or src.shape[dim] != idx.shape[0] or any(
            s != t for d, (s, t) in enumerate(zip(src.shape, a.shape)) if d != dim):
        raise RuntimeError(f"{op}(): source of shape {tuple(src.shape)} and index of shape {tuple(idx.shape)} do "
                           f"not fit self of shape {tuple(a.shape)} along dim {dim}: index must be 1-d and source "
                           f"shaped like self except size len(index) along dim")
    shape = [1] * a.ndim
    shape[dim] = idx.shape[0]
    return _backend_of(input).xp.broadcast_to(idx.reshape(shape), src.shape)
