"""Tensor: a backend array plus the autograd bookkeeping (``requires_grad``, ``grad``, ``grad_fn``)."""
from __future__ import annotations

import weakref

import numpy as np

from .. import backend as _backend
from . import engine

_default_dtype = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Floating dtype for tensors built from Python numbers and lists, and for new parameters (float32 default)."""
    global _default_dtype
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_dtype = d


def _is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


class Tensor:
    """An n-dimensional array on a backend (NumPy or CuPy) that can take part in autograd."""

    __slots__ = ("data", "requires_grad", "grad", "grad_fn", "__weakref__", "__dict__")
    __array_priority__ = 1000
    __array_ufunc__ = None  # NumPy defers to our reflected operators (np_array + tensor -> Tensor)

    def __init__(self, data, dtype=None, device=None, requires_grad: bool = False):
        t = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self.data, self.requires_grad, self.grad, self.grad_fn = t.data, t.requires_grad, None, None

    @classmethod
    def _make(cls, data, requires_grad, grad_fn):
        t = object.__new__(cls)
        if isinstance(data, np.generic):  # NumPy reductions and 0-d ops return scalars: keep an array
            data = np.asarray(data)
        t.data = data
        t.requires_grad = requires_grad
        t.grad = None
        t.grad_fn = grad_fn
        return t

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    @property
    def backend(self):
        return _backend.backend_of((self.data,))

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = []
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self.dtype != _default_dtype:
            extra.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn={type(self.grad_fn).__name__}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extra) + ")"

    # ----------------------------------------------------------------- conversion and movement
    def numpy(self) -> np.ndarray:
        """A host NumPy array with this tensor's values (shares memory on the CPU, like torch)."""
        return _backend.backend_of((self.data,)).to_host(self.data)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a.astype(dtype, copy=False) if dtype is not None else a

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only a tensor with one element can be converted to a Python scalar, "
                             f"got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def to(self, device=None, dtype=None) -> "Tensor":
        """This tensor on ``device`` ("cpu" / "cuda") and/or as ``dtype``; differentiable, ``self`` if unchanged."""
        from ..functional.math import to_device, cast

        if dtype is None and device is not None and _is_dtype(device):
            device, dtype = None, device
        out = self
        if device is not None:
            be = _backend.get(device)
            if be is not _backend.backend_of((self.data,)):
                out = to_device(out, be)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = cast(out, np.dtype(dtype))
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def float(self) -> "Tensor":
        return self.to(dtype=np.float32)

    def double(self) -> "Tensor":
        return self.to(dtype=np.float64)

    def astype(self, dtype) -> "Tensor":
        return self.to(dtype=dtype)

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor._make(self.data, False, None)

    def clone(self) -> "Tensor":
        from ..functional.math import clone

        return clone(self)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not _is_float(self.dtype):
            raise TypeError(f"only floating point tensors can require gradients, got dtype {self.dtype}")
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach() instead")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self.grad_fn is not None:
            self.grad_fn.retained = weakref.ref(self)
        return self

    # ----------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) · grad into every leaf's ``.grad``.

        ``grad`` may be omitted only for a single-element tensor (it is then 1).
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no grad_fn; build it from "
                               "tensors created with requires_grad=True (or Parameters), outside gn.no_grad()")
        be = self.grad_fn.backend if self.grad_fn is not None else _backend.backend_of((self.data,))
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be implicitly created only for a scalar output, but this tensor has "
                    f"shape {self.shape}. Reduce it first (e.g. loss.sum().backward() or loss.mean().backward()) "
                    f"or pass the upstream gradient: t.backward(gn.ones({self.shape})).")
            g = be.xp.empty(self.data.shape, dtype=self.data.dtype)
            g.fill(1)  # NumPy's ones() is a Python wrapper around these two calls
        else:
            g = grad.data if isinstance(grad, Tensor) else grad
            g = be.asarray(g, dtype=self.data.dtype)
            if g.shape != self.data.shape:
                raise ValueError(f"backward(): grad has shape {g.shape} but the tensor has shape {self.shape}")
        engine.run_backward(self, g, retain_graph=retain_graph)

    def zero_(self) -> "Tensor":
        self.data[...] = 0
        return self

    # ----------------------------------------------------------------- operators (ops live in functional.math)
    def __add__(self, other):
        return _m().add(self, other)

    def __radd__(self, other):
        return _m().add(other, self)

    def __sub__(self, other):
        return _m().sub(self, other)

    def __rsub__(self, other):
        return _m().sub(other, self)

    def __mul__(self, other):
        return _m().mul(self, other)

    def __rmul__(self, other):
        return _m().mul(other, self)

    def __truediv__(self, other):
        return _m().div(self, other)

    def __rtruediv__(self, other):
        return _m().div(other, self)

    def __pow__(self, other):
        return _m().pow(self, other)

    def __rpow__(self, other):
        return _m().pow(other, self)

    def __matmul__(self, other):
        return _m().matmul(self, other)

    def __rmatmul__(self, other):
        return _m().matmul(other, self)

    def __neg__(self):
        return _m().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _m().abs(self)

    def __getitem__(self, index):
        return _m().getitem(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad and self.grad_fn is None and _grad_enabled():
            raise RuntimeError("in-place assignment to a leaf tensor that requires grad; do it inside "
                               "gn.no_grad() or on .detach()")
        index = _unwrap_index(index)
        self.data[index] = value.data if isinstance(value, Tensor) else value

    # comparisons: no gradient, boolean results
    def _cmp(self, other, op):
        o = other.data if isinstance(other, Tensor) else other
        be = _backend.backend_of((self.data, o), op)
        return Tensor._make(getattr(be.xp, op)(self.data, o), False, None)

    def __lt__(self, other):
        return self._cmp(other, "less")

    def __le__(self, other):
        return self._cmp(other, "less_equal")

    def __gt__(self, other):
        return self._cmp(other, "greater")

    def __ge__(self, other):
        return self._cmp(other, "greater_equal")

    def __eq__(self, other):
        return self._cmp(other, "equal")

    def __ne__(self, other):
        return self._cmp(other, "not_equal")

    __hash__ = object.__hash__

    # ----------------------------------------------------------------- methods
    def sum(self, axis=None, keepdims=False, dim=None, keepdim=None):
        return _m().sum(self, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))

    def mean(self, axis=None, keepdims=False, dim=None, keepdim=None):
        return _m().mean(self, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))

    def max(self, axis=None, keepdims=False, dim=None, keepdim=None):
        return _m().max(self, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))

    def min(self, axis=None, keepdims=False, dim=None, keepdim=None):
        return _m().min(self, axis=_dim(axis, dim), keepdims=_kd(keepdims, keepdim))

    def argmax(self, axis=None, dim=None):
        a = _dim(axis, dim)
        return Tensor._make(self.data.argmax(axis=a), False, None)

    def argmin(self, axis=None, dim=None):
        a = _dim(axis, dim)
        return Tensor._make(self.data.argmin(axis=a), False, None)

    def exp(self):
        return _m().exp(self)

    def log(self):
        return _m().log(self)

    def sqrt(self):
        return _m().sqrt(self)

    def abs(self):
        return _m().abs(self)

    def clip(self, min=None, max=None):
        return _m().clip(self, min, max)

    clamp = clip

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _m().reshape(self, shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        s = self.shape
        if not s:
            return self.reshape(1)
        start = start_dim % len(s)
        end = end_dim % len(s)
        n = 1
        for d in s[start:end + 1]:
            n *= d
        return self.reshape(s[:start] + (n,) + s[end + 1:])

    def unsqueeze(self, dim: int):
        s = list(self.shape)
        dim = dim % (len(s) + 1)
        s.insert(dim, 1)
        return self.reshape(tuple(s))

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(d for d in self.shape if d != 1))
        dim = dim % max(self.ndim, 1)
        if self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:])

    def transpose(self, *axes):
        """``t.transpose()`` reverses the axes; ``t.transpose(d0, d1)`` swaps two (as torch)."""
        n = self.ndim
        if not axes:
            perm = tuple(range(n - 1, -1, -1))
        elif len(axes) == 2:
            perm = list(range(n))
            a, b = axes[0] % n, axes[1] % n
            perm[a], perm[b] = perm[b], perm[a]
            perm = tuple(perm)
        else:
            raise TypeError("transpose() takes no argument or two dims; use permute(*dims) for a full order")
        return _m().transpose(self, perm)

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _m().transpose(self, tuple(d % self.ndim for d in dims))

    def relu(self):
        from ..functional import activation

        return activation.relu(self)

    def sigmoid(self):
        from ..functional import activation

        return activation.sigmoid(self)

    def tanh(self):
        from ..functional import activation

        return activation.tanh(self)

    def softmax(self, dim=-1):
        from ..functional import activation

        return activation.softmax(self, dim)


def _is_dtype(x) -> bool:
    """True for a dtype given as np.dtype, a type like np.float32, or a name like "float32" (not a device)."""
    if isinstance(x, (np.dtype, type)):
        return True
    if isinstance(x, str) and x.lower() not in ("cpu", "cuda", "gpu", "numpy", "cupy") and not x.startswith("cuda:"):
        try:
            np.dtype(x)
            return True
        except TypeError:
            return False
    return False


def _dim(axis, dim):
    return dim if dim is not None else axis


def _kd(keepdims, keepdim):
    return keepdim if keepdim is not None else keepdims


def _grad_enabled() -> bool:
    from .grad_mode import STATE

    return STATE.enabled


def _unwrap_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


_MATH = None


def _m():
    global _MATH
    if _MATH is None:
        from ..functional import math

        _MATH = math
    return _MATH


def reset_grads(tensors, set_to_none: bool = True) -> None:
    """Reset each tensor's ``.grad``: to None (default, as torch), or to zeros in place, cut from any graph.
    What ``Module.zero_grad`` and ``Optimizer.zero_grad`` both do."""
    for p in tensors:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad.grad_fn = None
            p.grad.requires_grad = False
            p.grad.data.fill(0)


# ----------------------------------------------------------------- creation
def _resolve(device):
    return _backend.current() if device is None else _backend.get(device)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding ``data`` (copied).

    Python floats and lists of floats become the default dtype (float32); NumPy and CuPy arrays keep their dtype
    (``gn.tensor(np_float64)`` stays float64, as in PyTorch) unless ``dtype`` is given. ``device`` is "cpu" or
    "cuda"; by default the current backend's (``gn.use``).
    """
    if isinstance(data, Tensor):
        src = data.data
        be = _resolve(device) if device is not None else _backend.backend_of((src,))
    else:
        src = data
        be = _resolve(device)
    if dtype is not None:
        dtype = np.dtype(dtype)
    if hasattr(src, "dtype") and hasattr(src, "shape"):
        arr = be.asarray(src, dtype=dtype)
        if arr is src:
            arr = arr.copy()
    else:
        host = np.array(src, dtype=dtype)
        if dtype is None:
            if host.dtype == np.float64:
                host = host.astype(_default_dtype)
            elif host.dtype == object:
                raise TypeError(f"tensor(): cannot build a tensor from {type(data).__name__} "
                                f"(ragged or non-numeric data)")
        arr = be.asarray(host)
    t = Tensor._make(arr, False, None)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, without a copy where it already is one (or an array on the right device)."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    if hasattr(data, "__cuda_array_interface__") or isinstance(data, np.ndarray):
        be = _resolve(device) if device is not None else _backend.backend_of((data,))
        return Tensor._make(be.asarray(data, dtype=dtype), False, None)
    return tensor(data, dtype=dtype, device=device)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _dtype(dtype):
    return _default_dtype if dtype is None else np.dtype(dtype)


def zeros(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    be = _resolve(device)
    return Tensor._make(be.xp.zeros(_shape(shape), dtype=_dtype(dtype)), False, None).requires_grad_(requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    be = _resolve(device)
    return Tensor._make(be.xp.ones(_shape(shape), dtype=_dtype(dtype)), False, None).requires_grad_(requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    be = _resolve(device)
    a = be.xp.full(_shape((shape,)) if not isinstance(shape, int) else (shape,), fill_value, dtype=_dtype(dtype))
    return Tensor._make(a, False, None).requires_grad_(requires_grad)


def arange(*args, dtype=None, device=None) -> Tensor:
    be = _resolve(device)
    a = be.xp.arange(*args)
    if dtype is not None:
        a = a.astype(dtype)
    elif a.dtype == np.float64:
        a = a.astype(_default_dtype)
    return Tensor._make(a, False, None)


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    xp = t.backend.xp
    return Tensor._make(xp.zeros(t.shape, dtype=dtype or t.dtype), False, None).requires_grad_(requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    xp = t.backend.xp
    return Tensor._make(xp.ones(t.shape, dtype=dtype or t.dtype), False, None).requires_grad_(requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the backend's generator (seeded by :func:`manual_seed`)."""
    be = _resolve(device)
    return Tensor._make(be.rand(_shape(shape), _dtype(dtype)), False, None).requires_grad_(requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the backend's generator (seeded by :func:`manual_seed`)."""
    be = _resolve(device)
    return Tensor._make(be.randn(_shape(shape), _dtype(dtype)), False, None).requires_grad_(requires_grad)
