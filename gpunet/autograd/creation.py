"""Creating tensors: ``tensor``, ``as_tensor``, ``zeros``/``ones``/``full``/``arange``, ``*_like``, ``rand``/``randn``."""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from . import tensor as _t
from .tensor import Tensor

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
                host = host.astype(_t.get_default_dtype())
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
    return _t.get_default_dtype() if dtype is None else np.dtype(dtype)


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
        a = a.astype(_t.get_default_dtype())
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
