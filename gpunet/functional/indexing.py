"""Indexing ops as PyTorch names them: gather/scatter/scatter_add/index_select, masked_fill/masked_select
(tril/triu, split/chunk/unbind, flip/roll and repeat/repeat_interleave are in :mod:`.rearrange`).

Index arguments are integer Tensors (or arrays, or lists) on the input's device; masks are bool. Every backward
that sends a gradient to positions an index may name twice accumulates with the backend's ``scatter_add`` (never a
dense one-hot, never a Python loop). Out-of-bounds indices raise :class:`IndexOutOfBoundsError` (an ``IndexError``
and a ``RuntimeError``, as torch raises a ``RuntimeError``): at once on the CPU; on the GPU the check is read at
the next host read (see :mod:`gpunet.backend._deferred`) and the op runs on clipped indices meanwhile.
"""
from __future__ import annotations

import operator

import numpy as np

from .. import backend as _backend
from ..autograd._dims import canonical_dim
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from .shape import getitem, reshape

__all__ = [
    "IndexOutOfBoundsError",
    "gather",
    "index_select",
    "masked_fill",
    "masked_select",
    "scatter",
    "scatter_add",
    "masked_fill_",
    "scatter_",
    "scatter_add_",
    "index_add_",
    "index_add",
    "index_fill_",
]

class IndexOutOfBoundsError(IndexError, RuntimeError):
    """An index outside its dimension: an ``IndexError`` to Python, a ``RuntimeError`` as torch raises it."""


# ====================================================================== helpers
def _data(a):
    return a.data if isinstance(a, Tensor) else a


def _backend_of(a):
    return _backend.backend_of((_data(a),))


def _int_index(index, a, op: str, name: str = "index"):
    """``index`` as an integer array on ``a``'s device (host arrays and lists are moved there; a Tensor on another
    device is left for the op's device check to refuse)."""
    arr = index.data if isinstance(index, Tensor) else index
    if not isinstance(index, Tensor) and isinstance(arr, (list, tuple, int, np.integer, np.ndarray)):
        arr = _backend_of(a).asarray(np.asarray(arr))
    if not hasattr(arr, "dtype") or arr.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for {name}, got "
                           f"{getattr(arr, 'dtype', type(arr).__name__)}")
    return arr


def _bool_mask(mask, a, op: str):
    arr = mask.data if isinstance(mask, Tensor) else mask
    if not isinstance(mask, Tensor) and isinstance(arr, (list, tuple, bool, np.bool_, np.ndarray)):
        arr = _backend_of(a).asarray(np.asarray(arr))
    if arr.dtype != np.bool_:
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype {arr.dtype}")
    return arr


def _in_bounds(idx, n: int, op: str, dim: int, negative: bool = False):
    """``idx`` checked against a dimension of size ``n`` (negative entries allowed, counting from the end, when
    ``negative``). Raises at once on the CPU; on the GPU defers the check and returns clipped indices."""
    if idx.size == 0:
        return idx
    lo = -n if negative else 0
    if n == 0:
        raise IndexOutOfBoundsError(f"{op}(): index is out of bounds for dimension {dim} with size 0")
    be = _backend.backend_of((idx,))

    def report():
        bad = (idx < lo) | (idx >= n)
        v = int(idx[bad].reshape(-1)[0])
        raise IndexOutOfBoundsError(f"{op}(): index {v} is out of bounds for dimension {dim} with size {n}"
                                    f"{be.deferred_note}")

    if not be.syncs_are_costly:  # read at once (the CPU): two reductions, nothing to clip
        if int(idx.min()) < lo or int(idx.max()) >= n:
            report()
        return idx
    be.check_later(((idx < lo) | (idx >= n)).any(), report)
    return be.xp.clip(idx, lo, n - 1)


def _mesh(xp, idx, dim: int):
    """The advanced index that addresses, for each position p of ``idx``, the element at ``idx[p]`` along ``dim``
    and at p along every other dim (an open mesh: broadcast aranges, no dense copy)."""
    nd = idx.ndim
    parts = []
    for d in range(nd):
        if d == dim:
            parts.append(idx)
        else:
            shape = [1] * nd
            shape[d] = idx.shape[d]
            parts.append(xp.arange(idx.shape[d]).reshape(shape))
    return tuple(parts)


def _ints(seq, op: str, what: str):
    try:
        return tuple(operator.index(s) for s in seq)
    except TypeError:
        raise TypeError(f"{op}(): {what} must be ints, got {seq!r}") from None


# ====================================================================== functions
class Gather(Function):
    arg_names = ("input", "index")

    def forward(self, xp, a, idx, dim=0):
        self.shape, self.mesh = a.shape, _mesh(xp, idx, dim)
        return a[self.mesh]

    def backward(self, xp, g):
        out = xp.zeros(self.shape, dtype=g.dtype)
        self.backend.scatter_add(out, self.mesh, g)
        return out, None


class Scatter(Function):
    """``out = input.copy(); out[mesh] = src`` (or ``+= src`` with ``add``, repeated indices accumulated)."""
    arg_names = ("input", "index", "src")

    def forward(self, xp, a, idx, src, dim=0, value=None, add=False):
        self.mesh = m = _mesh(xp, idx, dim)
        self.add = add
        self.src_dtype = None if src is None else src.dtype
        out = a.copy()
        if src is None:
            out[m] = value
        elif add:
            self.backend.scatter_add(out, m, src.astype(a.dtype, copy=False))
        else:
            out[m] = src
        return out

    def backward(self, xp, g):
        na, _, ns = self.needs_input_grad
        ga = gs = None
        if na:
            if self.add:
                ga = g
            else:
                ga = g.copy()
                ga[self.mesh] = 0
        if ns:
            gs = g[self.mesh].astype(self.src_dtype, copy=False)
        return ga, None, gs


class IndexSelect(Function):
    arg_names = ("input", "index")

    def forward(self, xp, a, idx, dim=0):
        self.shape, self.idx, self.dim = a.shape, idx, dim
        return xp.take(a, idx, axis=dim)

    def backward(self, xp, g):
        out = xp.zeros(self.shape, dtype=g.dtype)
        self.backend.scatter_add(out, (slice(None),) * self.dim + (self.idx,), g)
        return out, None


class MaskedFill(Function):
    arg_names = ("input", "mask", "value")

    def forward(self, xp, a, mask, value):
        self.mask = mask
        self.vdtype = getattr(value, "dtype", None)
        v = value.astype(a.dtype) if hasattr(value, "dtype") else xp.asarray(value, dtype=a.dtype)
        return xp.where(mask, v, a)

    def backward(self, xp, g):
        na, _, nv = self.needs_input_grad
        zero = xp.zeros((), dtype=g.dtype)
        ga = xp.where(self.mask, zero, g) if na else None
        gv = xp.where(self.mask, g, zero).astype(self.vdtype, copy=False) if nv else None
        return ga, None, gv


class MaskedSelect(Function):
    arg_names = ("input", "mask")

    def forward(self, xp, a, mask):
        shape = np.broadcast_shapes(a.shape, mask.shape)
        self.shape, self.mask = shape, xp.broadcast_to(mask, shape)
        return xp.broadcast_to(a, shape)[self.mask]

    def backward(self, xp, g):
        out = xp.zeros(self.shape, dtype=g.dtype)
        out[self.mask] = g  # each element selected at most once
        return out, None


# ====================================================================== public wrappers
def _as_1d(a):
    """0-d tensors act as 1-d of one element (as torch's gather/scatter/index_select treat them)."""
    return reshape(a, (1,)) if _data(a).ndim == 0 else a


def gather(input, dim, index):
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` (for ``dim == 1``): ``out`` has ``index``'s shape, which
    may be smaller than ``input``'s except along ``dim``."""
    a = _data(input)
    dim = canonical_dim(dim, a.ndim, "gather")
    idx = _int_index(index, input, "gather")
    if max(a.ndim, 1) != max(idx.ndim, 1):
        raise RuntimeError(f"gather(): Index tensor must have the same number of dimensions as input tensor "
                           f"(index {tuple(idx.shape)}, input {tuple(a.shape)})")
    out_shape = idx.shape
    x, idx = _as_1d(input), (idx.reshape(1) if idx.ndim == 0 else idx)
    xs = _data(x).shape
    for d in range(idx.ndim):
        if d != dim and idx.shape[d] > xs[d]:
            raise RuntimeError(f"gather(): Size does not match at dimension {d} expected index {list(idx.shape)} "
                               f"to be no larger than self {list(xs)} apart from dimension {dim}")
    idx = _in_bounds(idx, xs[dim], "gather", dim)
    out = Gather.apply(x, idx, dim=dim)
    return reshape(out, ()) if len(out_shape) == 0 else out


def _scatter(op, input, dim, index, src, value, add, inplace=False):
    a = _data(input)
    dim = canonical_dim(dim, a.ndim, op)
    idx = _int_index(index, input, op)
    if max(a.ndim, 1) != max(idx.ndim, 1):
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as self tensor "
                           f"(index {tuple(idx.shape)}, self {tuple(a.shape)})")
    zero_d = a.ndim == 0
    x, idx = _as_1d(input), (idx.reshape(1) if idx.ndim == 0 else idx)
    xs = _data(x).shape
    if src is not None:
        if not isinstance(src, Tensor):
            src = Tensor._make(_backend_of(input).asarray(src), False, None)
        if max(src.ndim, 1) != idx.ndim:
            raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as src tensor "
                               f"(index {tuple(idx.shape)}, src {tuple(src.shape)})")
        src = _as_1d(src)
    for d in range(idx.ndim):
        if (d != dim and idx.shape[d] > xs[d]) or (src is not None and idx.shape[d] > src.shape[d]):
            raise RuntimeError(f"{op}(): Expected index {list(idx.shape)} to be no larger than self {list(xs)} "
                               f"apart from dimension {dim}"
                               + ("" if src is None else f" and to be no larger size than src {list(src.shape)}"))
    idx = _in_bounds(idx, xs[dim], op, dim)
    if src is not None and tuple(src.shape) != tuple(idx.shape):
        src = getitem(src, tuple(slice(0, s) for s in idx.shape))
    if inplace and not zero_d:  # written into input's memory, version-counted (autograd.inplace)
        from ..autograd.inplace import apply_inplace

        return apply_inplace(input, Scatter, op, idx, src, dim=dim, value=value, add=add)
    out = Scatter.apply(x, idx, src, dim=dim, value=value, add=add)
    out = reshape(out, ()) if zero_d else out
    return input.copy_(out) if inplace else out


def scatter(input, dim, index, src=None, *, value=None):
    """Out of place: a copy of ``input`` with ``src[p]`` (a tensor) or ``value`` (a number) written at
    ``index[p]`` along ``dim``. Which write wins where ``index`` repeats a position is unspecified (as torch)."""
    if src is not None and value is not None:
        raise TypeError("scatter(): give src or value, not both")
    if src is None and value is None:
        raise TypeError("scatter(): missing the src tensor or the value")
    if src is not None and not isinstance(src, Tensor) and not hasattr(src, "shape"):
        src, value = None, src
    if value is not None and not isinstance(value, (bool, int, float, complex, np.generic)):
        raise TypeError(f"scatter(): value must be a number, got {type(value).__name__}")
    return _scatter("scatter", input, dim, index, src, value, False)


def scatter_add(input, dim, index, src):
    """Out of place: a copy of ``input`` with ``src[p]`` added at ``index[p]`` along ``dim`` (repeated positions
    accumulate)."""
    if not isinstance(src, Tensor) and not hasattr(src, "shape"):
        raise TypeError(f"scatter_add(): argument 'src' must be Tensor, not {type(src).__name__}")
    return _scatter("scatter_add", input, dim, index, src, None, True)


def index_select(input, dim, index):
    """The slices of ``input`` at ``index`` (a 1-d integer tensor) along ``dim``."""
    a = _data(input)
    dim = canonical_dim(dim, a.ndim, "index_select")
    idx = _int_index(index, input, "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got shape {tuple(idx.shape)}")
    if a.ndim == 0:
        if idx.size != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got {idx.size} value(s)")
        idx = _in_bounds(idx.reshape(1), 1, "index_select", 0)
        return reshape(IndexSelect.apply(_as_1d(input), idx, dim=0), ())
    idx = _in_bounds(idx.reshape(-1), a.shape[dim], "index_select", dim)
    return IndexSelect.apply(input, idx, dim=dim)


def masked_fill(input, mask, value):
    """``input`` with ``value`` (a number or a 0-d tensor, differentiable) where the bool ``mask`` (broadcast)
    is True; the result keeps ``input``'s dtype."""
    return MaskedFill.apply(input, *_masked_fill_args(input, mask, value, "masked_fill"))


def masked_fill_(input, mask, value):
    """:func:`masked_fill` written into ``input`` (version-counted; the mask may not grow it)."""
    from ..autograd.inplace import apply_inplace

    return apply_inplace(input, MaskedFill, "masked_fill_", *_masked_fill_args(input, mask, value, "masked_fill_"))


def _masked_fill_args(input, mask, value, op):
    m = _bool_mask(mask, input, op)
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"{op} only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        if isinstance(input, Tensor) and value.device != input.device:
            value = value.to(input.device)  # torch takes a 0-d CPU value for a CUDA input
    elif not isinstance(value, (bool, int, float, complex, np.generic)):
        raise TypeError(f"{op}(): value must be a number or a 0-d tensor, got {type(value).__name__}")
    _broadcast(_data(input).shape, m.shape, op)
    return m, value


def _broadcast(sa, sb, op):
    try:
        return np.broadcast_shapes(tuple(sa), tuple(sb))
    except ValueError:
        raise RuntimeError(f"{op}: the shape of the mask {tuple(sb)} does not broadcast with the shape of the "
                           f"input {tuple(sa)}") from None


def masked_select(input, mask):
    """The elements of ``input`` where the bool ``mask`` is True (both broadcast), as a 1-d tensor. Its length
    depends on the data: a host sync on the GPU, as in torch."""
    m = _bool_mask(mask, input, "masked_select")
    _broadcast(_data(input).shape, m.shape, "masked_select")
    return MaskedSelect.apply(input, m)


# The in-place scatter / index ops live in .indexing_inplace (imported last: it builds on the names above).
from .indexing_inplace import index_add, index_add_, index_fill_, scatter_, scatter_add_  # noqa: E402
