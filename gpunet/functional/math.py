"""Elementary differentiable ops: arithmetic, reductions, shape ops, indexing, joining, selection.

Each op is a :class:`~gpunet.autograd.Function` with a hand-written vector-Jacobian product, written once
against ``xp`` (NumPy or CuPy). Broadcasting is undone by the engine, so ``backward`` may return gradients in
the broadcast shape.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor


def _normalize_axis(axis, ndim):
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(a % ndim for a in axis)) if ndim else ()
    return (axis % ndim,) if ndim else ()


def _expand(xp, g, shape, axis, keepdims):
    """Broadcast a reduced gradient ``g`` back to ``shape``."""
    if axis is not None and not keepdims:
        g = xp.expand_dims(g, axis)
    return xp.broadcast_to(g, shape)


# ====================================================================== arithmetic
class Add(Function):
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        return a + b

    def backward(self, xp, g):
        return g, g


class Sub(Function):
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        return a - b

    def backward(self, xp, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    """d(a·b) = b·g for a, a·g for b: the gate swaps its operands."""
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, xp, g):
        na, nb = self.needs_input_grad
        return (g * self.b if na else None), (g * self.a if nb else None)


class Div(Function):
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, xp, g):
        na, nb = self.needs_input_grad
        ga = g / self.b if na else None
        gb = -g * self.a / (self.b * self.b) if nb else None
        return ga, gb


class Neg(Function):
    def forward(self, xp, a):
        return -a

    def backward(self, xp, g):
        return (-g,)


class Pow(Function):
    """d(aᵇ) = b·aᵇ⁻¹·g for a, aᵇ·ln(a)·g for b."""
    arg_names = ("input", "exponent")

    def forward(self, xp, a, b):
        out = a ** b
        self.a, self.b, self.out = a, b, out
        return out

    def backward(self, xp, g):
        na, nb = self.needs_input_grad
        a, b = self.a, self.b
        ga = gb = None
        if na:
            ga = g * b * a ** (b - 1) if not (np.isscalar(b) and b == 2) else g * 2 * a
        if nb:
            safe = xp.where(a > 0, a, 1)
            gb = g * self.out * xp.where(a > 0, xp.log(safe), 0)
        return ga, gb


class MatMul(Function):
    """(a @ b): ga = g @ bᵀ, gb = aᵀ @ g; 1-D operands are promoted as in NumPy; batch dims broadcast."""
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both arguments need at least one dimension; use * for scalars")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned: "
                             f"{ka} (last dim of argument 0) != {kb} "
                             f"({'second-to-last' if b.ndim > 1 else 'only'} dim of argument 1)")
        self.a, self.b = a, b
        return a @ b

    def backward(self, xp, g):
        a, b = self.a, self.b
        na, nb = self.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:  # inner product: the output is 0-d
            return (g * b if na else None), (g * a if nb else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        ga = gb = None
        if na:
            ga = g @ xp.swapaxes(b2, -1, -2)
            if a.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + (ga.shape[-1],)) if ga.ndim > 2 else ga.reshape(-1)
        if nb:
            gb = xp.swapaxes(a2, -1, -2) @ g
            if b.ndim == 1:
                gb = gb.reshape(gb.shape[:-1]) if gb.ndim > 2 else gb.reshape(-1)
        return ga, gb


# ====================================================================== elementwise functions
class Exp(Function):
    def forward(self, xp, a):
        self.out = xp.exp(a)
        return self.out

    def backward(self, xp, g):
        return (g * self.out,)


class Log(Function):
    def forward(self, xp, a):
        self.a = a
        return xp.log(a)

    def backward(self, xp, g):
        return (g / self.a,)


class Sqrt(Function):
    def forward(self, xp, a):
        self.out = xp.sqrt(a)
        return self.out

    def backward(self, xp, g):
        return (g / (2 * self.out),)


class Abs(Function):
    """d|a| = sign(a)·g (0 at 0, as PyTorch)."""

    def forward(self, xp, a):
        self.a = a
        return xp.abs(a)

    def backward(self, xp, g):
        return (g * xp.sign(self.a),)


class Clip(Function):
    """Gradient passes where lo ≤ a ≤ hi (bounds included, as torch.clamp)."""

    def forward(self, xp, a, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of min and max")
        mask = None
        if lo is not None:
            mask = a >= lo
        if hi is not None:
            m = a <= hi
            mask = m if mask is None else mask & m
        self.mask = mask
        return xp.clip(a, lo, hi)

    def backward(self, xp, g):
        return (g * self.mask,)


# ====================================================================== reductions
class Sum(Function):
    def forward(self, xp, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, _normalize_axis(axis, a.ndim), keepdims
        return a.sum(axis=self.axis, keepdims=keepdims)

    def backward(self, xp, g):
        return (_expand(xp, g, self.shape, self.axis, self.keepdims),)


class Mean(Function):
    def forward(self, xp, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, _normalize_axis(axis, a.ndim), keepdims
        out = a.mean(axis=self.axis, keepdims=keepdims)
        self.count = a.size // (out.size or 1) if a.size else 1
        return out

    def backward(self, xp, g):
        return (_expand(xp, g / self.count, self.shape, self.axis, self.keepdims),)


class _Extremum(Function):
    """max/min. Over all elements (or several axes) the gradient is shared evenly among ties (torch.amax);
    along one axis it goes to the first winner (torch.max(dim) routes to the returned index)."""
    _reduce = "max"
    _arg = "argmax"

    def forward(self, xp, a, axis=None, keepdims=False):
        if a.size == 0:
            raise ValueError(f"{self._reduce}: the input is empty (shape {a.shape})")
        axis = _normalize_axis(axis, a.ndim)
        out = getattr(a, self._reduce)(axis=axis, keepdims=keepdims)
        self.a, self.axis, self.keepdims, self.out = a, axis, keepdims, out
        return out

    def backward(self, xp, g):
        a, axis = self.a, self.axis
        if axis is not None and len(axis) == 1:
            ax = axis[0]
            idx = getattr(a, self._arg)(axis=ax)
            idx = xp.expand_dims(idx, ax)
            shape = [1] * a.ndim
            shape[ax] = a.shape[ax]
            mask = xp.arange(a.shape[ax]).reshape(shape) == idx
            return (_expand(xp, g, a.shape, axis, self.keepdims) * mask,)
        out_b = _expand(xp, self.out, a.shape, axis, self.keepdims)
        mask = a == out_b
        count = mask.sum(axis=axis, keepdims=True)
        return (_expand(xp, g, a.shape, axis, self.keepdims) * mask / count,)


class Max(_Extremum):
    _reduce, _arg = "max", "argmax"


class Min(_Extremum):
    _reduce, _arg = "min", "argmin"


# ====================================================================== shape and movement
class Reshape(Function):
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
    def forward(self, xp, a, axes=None):
        self.axes = axes
        return a.transpose(axes)

    def backward(self, xp, g):
        return (g.transpose(np.argsort(self.axes)) if self.axes is not None else g.transpose(),)


class GetItem(Function):
    """Indexing; the gradient is scattered back, repeated indices accumulated."""

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


class Concatenate(Function):
    def forward(self, xp, *arrays, axis=0):
        self.axis = axis % arrays[0].ndim
        self.sizes = [a.shape[self.axis] for a in arrays]
        return xp.concatenate(arrays, axis=self.axis)

    def backward(self, xp, g):
        bounds = np.cumsum(self.sizes)[:-1].tolist()
        return tuple(xp.split(g, bounds, axis=self.axis))


class Stack(Function):
    def forward(self, xp, *arrays, axis=0):
        self.axis = axis % (arrays[0].ndim + 1)
        return xp.stack(arrays, axis=self.axis)

    def backward(self, xp, g):
        n = g.shape[self.axis]
        return tuple(xp.take(g, i, axis=self.axis) for i in range(n))


class Where(Function):
    arg_names = ("condition", "input", "other")

    def forward(self, xp, cond, a, b):
        self.cond = cond
        return xp.where(cond, a, b)

    def backward(self, xp, g):
        _, na, nb = self.needs_input_grad
        zero = xp.zeros((), dtype=g.dtype)
        return None, (xp.where(self.cond, g, zero) if na else None), (xp.where(self.cond, zero, g) if nb else None)


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
def add(a, b):
    """a + b (broadcasting)."""
    return Add.apply(a, b)


def sub(a, b):
    """a − b."""
    return Sub.apply(a, b)


def mul(a, b):
    """a · b (elementwise)."""
    return Mul.apply(a, b)


def div(a, b):
    """a / b."""
    return Div.apply(a, b)


def neg(a):
    """−a."""
    return Neg.apply(a)


def pow(a, b):
    """aᵇ (b a scalar or a tensor)."""
    return Pow.apply(a, b)


def matmul(a, b):
    """a @ b: 2-D, batched (leading dims broadcast) and 1-D as in NumPy."""
    return MatMul.apply(a, b)


def exp(a):
    """eᵃ."""
    return Exp.apply(a)


def log(a):
    """Natural logarithm."""
    return Log.apply(a)


def sqrt(a):
    """√a."""
    return Sqrt.apply(a)


def abs(a):
    """|a|."""
    return Abs.apply(a)


def clip(a, min=None, max=None):
    """a clamped to [min, max]."""
    return Clip.apply(a, lo=min, hi=max)


clamp = clip


def sum(a, axis=None, keepdims=False):
    """Σ over ``axis`` (int, tuple or None for all)."""
    return Sum.apply(a, axis=axis, keepdims=keepdims)


def mean(a, axis=None, keepdims=False):
    """Mean over ``axis``."""
    return Mean.apply(a, axis=axis, keepdims=keepdims)


def max(a, axis=None, keepdims=False):
    """Maximum over ``axis`` (values only)."""
    return Max.apply(a, axis=axis, keepdims=keepdims)


def min(a, axis=None, keepdims=False):
    """Minimum over ``axis`` (values only)."""
    return Min.apply(a, axis=axis, keepdims=keepdims)


def reshape(a, shape):
    """``a`` with a new shape (one dim may be -1)."""
    if isinstance(shape, int):
        shape = (shape,)
    return Reshape.apply(a, shape=tuple(shape))


def transpose(a, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    return Transpose.apply(a, axes=tuple(axes) if axes is not None else None)


def getitem(a, index):
    """``a[index]`` with basic, advanced and boolean indexing."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = np.asarray(index)
    if isinstance(index, np.ndarray) and isinstance(a, Tensor) and a.device != "cpu":
        index = a.backend.asarray(index)
    return GetItem.apply(a, index=index)


def concatenate(tensors, axis=0):
    """Join along an existing axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: expected a non-empty sequence of tensors")
    return Concatenate.apply(*tensors, axis=axis)


cat = concatenate


def stack(tensors, axis=0):
    """Join along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    return Stack.apply(*tensors, axis=axis)


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` else of ``b``."""
    return Where.apply(condition, a, b)


def to_device(a, backend):
    return ToDevice.apply(a, target=backend)


def cast(a, dtype):
    return Cast.apply(a, dtype=np.dtype(dtype))


def clone(a):
    return Clone.apply(a)
