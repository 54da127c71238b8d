"""Shape and indexing ops: reshape, transpose, indexing (and indexed assignment), joining, device and dtype moves.

Reshape, transpose and basic indexing return views, as in PyTorch: a view shares its base's memory and version
counter, so an in-place write through either is seen by the functions that saved the other (see
:mod:`gpunet.autograd.inplace`). Dims are checked, never wrapped.
"""
from __future__ import annotations

import numpy as np

from ..autograd._dims import canonical_dim
from ..autograd.function import Function
from ..autograd.tensor import Tensor

__all__ = ["reshape", "transpose", "getitem", "concatenate", "cat", "stack", "to_device", "cast", "clone",
           "index_of", "expand"]


class Reshape(Function):
    is_view = True

    def forward(self, xp, a, shape=()):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(a.shape)} ({a.size} elements) "
                             f"into {tuple(shape)}") from None

    def backward(self, xp, g):
        return (g.reshape(self.shape),)


class Transpose(Function):
    is_view = True

    def forward(self, xp, a, axes=None):
        self.axes = axes
        return a.transpose(axes)

    def backward(self, xp, g):
        return (g.transpose(np.argsort(self.axes)) if self.axes is not None else g.transpose(),)


class Expand(Function):
    """A broadcast view (size-1 dims repeated without copying, new leading dims); the engine sums the gradient
    back to the input's shape. The view is read-only on NumPy (PyTorch also refuses most writes into one)."""
    is_view = True

    def forward(self, xp, a, shape=()):
        return xp.broadcast_to(a, shape)

    def backward(self, xp, g):
        return (g,)


class GetItem(Function):
    """Indexing; the gradient is scattered back, repeated indices accumulated."""
    is_view = True  # basic indexing gives a view; advanced indexing a copy (Function.apply tells them apart)

    def forward(self, xp, a, index=None):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, xp, g):
        out = xp.zeros(self.shape, dtype=g.dtype)
        index = self.index
        parts = index if isinstance(index, tuple) else (index,)
        advanced = [p for p in parts if hasattr(p, "shape") or isinstance(p, list)]
        if advanced:
            if all(getattr(p, "dtype", None) == np.bool_ for p in advanced):
                out[index] = g  # boolean masks alone select each element at most once
            else:
                self.backend.scatter_add(out, index, g)
        else:
            out[index] = g
        return (out,)


class SetItem(Function):
    """``a[index] = value`` written in place into ``a``'s memory (the output IS ``a``'s array).

    The gradient of the old ``a`` is ``g`` with the overwritten elements zeroed; ``value`` gets ``g[index]``
    (summed back to its shape by the engine). Recorded by :func:`gpunet.autograd.inplace.setitem`."""
    arg_names = ("self", "value")

    def forward(self, xp, a, value, index=None):
        a[index] = value
        self.index = index
        return a

    def backward(self, xp, g):
        na, nv = self.needs_input_grad
        ga = gv = None
        if na:
            ga = g.copy()
            ga[self.index] = 0
        if nv:
            gv = g[self.index]
        return ga, gv


class Concatenate(Function):
    def forward(self, xp, *arrays, axis=0):
        self.axis = canonical_dim(axis, arrays[0].ndim, "cat")
        self.sizes = [a.shape[self.axis] for a in arrays]
        return xp.concatenate(arrays, axis=self.axis)

    def backward(self, xp, g):
        bounds = np.cumsum(self.sizes)[:-1].tolist()
        return tuple(xp.split(g, bounds, axis=self.axis))


class Stack(Function):
    def forward(self, xp, *arrays, axis=0):
        self.axis = canonical_dim(axis, arrays[0].ndim, "stack", extra=1)
        return xp.stack(arrays, axis=self.axis)

    def backward(self, xp, g):
        n = g.shape[self.axis]
        return tuple(xp.take(g, i, axis=self.axis) for i in range(n))


class ToDevice(Function):
    """Copy to another backend; the gradient comes back the same way."""

    def forward(self, xp, a, target=None):
        self.source = self.backend
        self.backend = target  # backward runs on the target device, where the gradient arrives
        return target.asarray(a)

    def backward(self, xp, g):
        return (self.source.asarray(g),)


class Cast(Function):
    def forward(self, xp, a, dtype=None):
        self.src = a.dtype
        return a.astype(dtype)

    def backward(self, xp, g):
        return (g.astype(self.src),)


class Clone(Function):
    def forward(self, xp, a):
        return a.copy()

    def backward(self, xp, g):
        return (g,)


# ====================================================================== public wrappers
def reshape(a, shape):
    """``a`` with a new shape (one dim may be -1)."""
    if isinstance(shape, int):
        shape = (shape,)
    return Reshape.apply(a, shape=tuple(shape))


def expand(a, sizes):
    """``a`` broadcast to ``sizes`` as ``torch.Tensor.expand``: -1 keeps a dim, only size-1 dims grow, new dims
    go in front (and may not be -1)."""
    shape = tuple(a.shape)
    sizes = tuple(int(d) for d in sizes)
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    out = []
    for i, d in enumerate(sizes):
        if i < lead:
            if d < 0:
                raise RuntimeError(f"expand: the expanded size {d} is not allowed in a leading, non-existing "
                                   f"dimension {i}")
            out.append(d)
            continue
        have = shape[i - lead]
        if d == -1:
            d = have
        elif d != have and have != 1:
            raise RuntimeError(f"expand: the expanded size of the tensor ({d}) must match the existing size "
                               f"({have}) at non-singleton dimension {i}. Target sizes: {list(sizes)}. Tensor "
                               f"sizes: {list(shape)}")
        out.append(d)
    return Expand.apply(a, shape=tuple(out))


def transpose(a, axes=None):
    """Permute the axes (reverse them when ``axes`` is None); ``axes`` must name every dim once."""
    if axes is not None:
        n = a.ndim
        axes = tuple(canonical_dim(d, n, "permute") for d in axes)
        if len(axes) != n or len(set(axes)) != n:
            raise RuntimeError(f"permute: dims {axes} must name each of the tensor's {n} dims exactly once")
    return Transpose.apply(a, axes=axes)


def index_of(a, index):
    """``index`` with Tensors unwrapped to arrays (and index lists made arrays) on ``a``'s device."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = np.asarray(index)
    if isinstance(index, np.ndarray) and isinstance(a, Tensor) and a.device != "cpu":
        index = a.backend.asarray(index)
    return index


def getitem(a, index):
    """``a[index]`` with basic, advanced and boolean indexing."""
    return GetItem.apply(a, index=index_of(a, index))


def concatenate(tensors, axis=0, *, dim=None):
    """Join along an existing axis (``dim``, as torch.cat)."""
    return _join(Concatenate, "concatenate", tensors, axis if dim is None else dim)


cat = concatenate


def stack(tensors, axis=0, *, dim=None):
    """Join along a new axis (``dim``, as torch.stack)."""
    return _join(Stack, "stack", tensors, axis if dim is None else dim)


def _join(fn_cls, op: str, tensors, axis):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    return fn_cls.apply(*tensors, axis=axis)


def to_device(a, backend):
    return ToDevice.apply(a, target=backend)


def cast(a, dtype):
    """``a`` as ``dtype``: differentiable to a floating dtype; to bool or integers the result does not require grad
    (as torch: ``x.long().requires_grad`` is False)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc" and isinstance(a, Tensor) and a.requires_grad:
        a = a.detach()
    return Cast.apply(a, dtype=dtype)


def clone(a):
    return Clone.apply(a)
