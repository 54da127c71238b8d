"""Tensor: a backend array plus the autograd bookkeeping (``requires_grad``, ``grad``, ``grad_fn``)."""
from __future__ import annotations

import weakref

import numpy as np

from .. import backend as _backend
from . import engine
from . import inplace as _inplace
from ._tensor_methods import TensorMethods

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


class Tensor(TensorMethods):
    """An n-dimensional array on a backend (NumPy or CuPy) that can take part in autograd."""

    __slots__ = ("data", "requires_grad", "grad", "grad_fn", "_vc", "_gv", "__weakref__", "__dict__")
    __array_priority__ = 1000
    __array_ufunc__ = None  # NumPy defers to our reflected operators (np_array + tensor -> Tensor)

    def __init__(self, data, dtype=None, device=None, requires_grad: bool = False):
        from .creation import tensor

        t = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self.data, self.requires_grad, self.grad, self.grad_fn = t.data, t.requires_grad, None, None
        self._vc, self._gv = None, 0

    @classmethod
    def _make(cls, data, requires_grad, grad_fn):
        t = object.__new__(cls)
        if isinstance(data, np.generic):  # NumPy reductions and 0-d ops return scalars: keep an array
            data = np.asarray(data)
        t.data = data
        t.requires_grad = requires_grad
        t.grad = None
        t.grad_fn = grad_fn
        t._vc = None  # version counter (autograd.inplace), made on the first in-place write or view; _gv is
        return t      # set with it

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
    def backend(self):
        return _backend.backend_of((self.data,))

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's memory has had (shared with its views), as PyTorch's."""
        return _inplace.version(self)

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
        if type(self.data) is not np.ndarray:  # a device read: pending device-side checks are read with it
            _backend.backend_of((self.data,)).flush_checks()
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

    def astype(self, dtype) -> "Tensor":
        return self.to(dtype=dtype)

    def detach(self) -> "Tensor":
        """The same data (and version counter), cut from the graph."""
        t = Tensor._make(self.data, False, None)
        vc = _inplace.counter(self)
        t._vc, t._gv = vc, vc[_inplace.GRAPH]
        return t

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

    def register_hook(self, hook):
        """Call ``hook(grad)`` with this tensor's gradient (a Tensor) during backward, as torch's: it may return
        None or a Tensor (same shape, dtype, device) used in its place. A leaf's hooks run before its gradient is
        accumulated into ``.grad``; a non-leaf's when its gradient is complete, before it flows on (the hook
        stays with the ``grad_fn`` the tensor has now). Returns a handle whose ``remove()`` unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from . import hooks

        return hooks.register(self.grad_fn if self.grad_fn is not None else self, hook)

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None, *,
                 grad=None) -> None:
        """Accumulate d(self)/d(leaf) · gradient into every leaf's ``.grad`` (as ``torch.Tensor.backward``).

        ``gradient`` may be omitted only for a single-element tensor (it is then 1); ``grad=`` is an older name
        for it. ``retain_graph`` keeps the graph for another backward. ``inputs`` (a tensor or a sequence of
        tensors) restricts the accumulation to those tensors (a non-leaf among them gets ``.grad`` too).
        ``create_graph=True`` records the backward pass itself, so each ``.grad`` has a graph and can be
        differentiated again (higher-order gradients; ``retain_graph`` then defaults to True).
        """
        if grad is not None:
            if gradient is not None:
                raise TypeError("backward(): pass the upstream gradient once, as gradient= (grad= is its old name)")
            gradient = grad
        grad = gradient
        if inputs is not None:
            inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
            if not inputs:
                raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
            for t in inputs:
                if not isinstance(t, Tensor):
                    raise TypeError(f"backward(inputs=...): expected Tensors, got {type(t).__name__}")
                if not t.requires_grad:
                    raise RuntimeError("backward(inputs=...): one of the inputs does not require grad, so it can "
                                       "get no gradient (as torch: can't retain_grad on Tensor that has "
                                       "requires_grad=False)")
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
        if self._vc is not None and self._gv != self._vc[_inplace.GRAPH]:
            _inplace.check_current((self,), "backward")
        if create_graph:  # the backward pass recorded (gradients with a graph): higher-order derivatives
            from . import _graph_backward

            seed = grad if isinstance(grad, Tensor) and grad.requires_grad else Tensor._make(g, False, None)
            _graph_backward.run([self], [seed], inputs=inputs, accumulate=True, create_graph=True,
                                retain_graph=True if retain_graph is None else bool(retain_graph))
            return
        engine.run_backward(self, g, retain_graph=bool(retain_graph), inputs=inputs)

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
