"""Creating tensors: ``tensor``, ``as_tensor``, ``from_numpy``, ``zeros``/``ones``/``full``/``empty``/``arange``/
``linspace``/``logspace``/``eye``, the ``*_like`` forms, ``rand``/``randn``/``randint``/``randperm``.

Defaults as PyTorch: floating results take the default dtype (float32), ``randint``/``randperm`` int64, a
``*_like`` the input's dtype and device; ``requires_grad=True`` needs a floating dtype."""
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


def _like(t, dtype, device):
    """``(backend, dtype)`` of a ``*_like`` result: ``t``'s unless given."""
    t = t if isinstance(t, Tensor) else as_tensor(t)
    be = t.backend if device is None else _backend.get(device)
    return be, t.dtype if dtype is None else np.dtype(dtype)


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    be, dt = _like(t, dtype, device)
    return Tensor._make(be.xp.zeros(t.shape, dtype=dt), False, None).requires_grad_(requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    be, dt = _like(t, dtype, device)
    return Tensor._make(be.xp.ones(t.shape, dtype=dt), False, None).requires_grad_(requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    be, dt = _like(t, dtype, device)
    return Tensor._make(be.xp.full(t.shape, fill_value, dtype=dt), False, None).requires_grad_(requires_grad)


def empty_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uninitialised memory of ``t``'s shape (values undefined, as torch.empty_like)."""
    be, dt = _like(t, dtype, device)
    return Tensor._make(be.xp.empty(t.shape, dtype=dt), False, None).requires_grad_(requires_grad)


def _random_like(name, t, dtype, device):
    be, dt = _like(t, dtype, device)
    if dt.kind != "f":
        raise TypeError(f"{name}: expected a floating dtype, got {dt}; pass dtype= (e.g. dtype=gn.float32)")
    return be, dt


def rand_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    be, dt = _random_like("rand_like", t, dtype, device)
    return Tensor._make(be.rand(tuple(t.shape), dt), False, None).requires_grad_(requires_grad)


def randn_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    be, dt = _random_like("randn_like", t, dtype, device)
    return Tensor._make(be.randn(tuple(t.shape), dt), False, None).requires_grad_(requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uninitialised memory (values undefined, as torch.empty)."""
    be = _resolve(device)
    return Tensor._make(be.xp.empty(_shape(shape), dtype=_dtype(dtype)), False, None).requires_grad_(requires_grad)


def from_numpy(array) -> Tensor:
    """A CPU tensor sharing ``array``'s memory (writes through either show in both), as torch.from_numpy."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(array).__name__}); use gn.tensor(data) to "
                        f"copy other data")
    return Tensor._make(array, False, None)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` (both included), computed as torch's CPU kernel,
    so the values are the same to the bit: ``start + step·i`` for the first half and ``end − step·(steps−1−i)``
    for the second, each with one rounding (a fused multiply-add). An integer dtype truncates the ends first
    and the values after."""
    steps = int(steps)
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    be, dt = _resolve(device), _dtype(dtype)
    xp = be.xp
    if dt.kind in "iu":
        start, end = int(start), int(end)
    single = dt.kind == "f" and dt.itemsize <= 4  # float32/float16: the ends and step in float32
    ends = np.float32 if single else np.float64
    s, e = ends(start), ends(end)
    if steps <= 1:
        return Tensor._make(xp.full((steps,), s).astype(dt), False, None).requires_grad_(requires_grad)
    step = (e - s) / ends(steps - 1)
    i = xp.arange(steps, dtype=np.float64)
    j = (steps - 1) - i
    if single:  # a float32 product is exact in float64: one rounding of the sum, as a float32 FMA
        lo, hi = np.float64(s) + np.float64(step) * i, np.float64(e) - np.float64(step) * j
    else:
        lo, hi = _fma(np.float64(step), i, np.float64(s)), _fma(-np.float64(step), j, np.float64(e))
    a = xp.where(i < steps // 2, lo, hi).astype(dt)
    return Tensor._make(a, False, None).requires_grad_(requires_grad)


def _fma(a, b, c):
    """``a·b + c`` in float64 with (nearly always) one rounding: Dekker's exact product plus Knuth's two-sum."""
    p = a * b

    def split(x):
        t = 134217729.0 * x  # 2**27 + 1
        hi = t - (t - x)
        return hi, x - hi

    (ah, al), (bh, bl) = split(a), split(b)
    ep = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    bb = s - p
    es = (p - (s - bb)) + (c - bb)
    return s + (es + ep)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    dt = _dtype(dtype)
    exps = linspace(start, end, steps, dtype=dt if dt.kind == "f" else np.float64, device=device)
    a = exps.backend.xp.power(exps.data.dtype.type(base), exps.data)
    return Tensor._make(a.astype(dt, copy=False), False, None).requires_grad_(requires_grad)


def eye(n: int, m=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The ``n`` × ``m`` (default ``n`` × ``n``) identity matrix."""
    be = _resolve(device)
    return Tensor._make(be.xp.eye(n, n if m is None else m, dtype=_dtype(dtype)), False,
                        None).requires_grad_(requires_grad)


def randint(*args, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers uniform in [low, high) (low 0 by
    default), int64 unless ``dtype`` says otherwise, as torch.randint."""
    args = list(args)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if size is None or len(args) not in (1, 2):
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size), size a tuple of ints")
    low, high = (0, args[0]) if len(args) == 1 else args
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"randint: expected low < high, got low={low}, high={high}")
    be = _resolve(device)
    a = be.randint(low, high, tuple(int(d) for d in size))
    dt = np.dtype(np.int64) if dtype is None else np.dtype(dtype)
    return Tensor._make(a.astype(dt, copy=False), False, None).requires_grad_(requires_grad)


def randperm(n: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 … n-1`` (int64 unless ``dtype`` says otherwise)."""
    if int(n) < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    be = _resolve(device)
    dt = np.dtype(np.int64) if dtype is None else np.dtype(dtype)
    return Tensor._make(be.randperm(int(n)).astype(dt, copy=False), False, None).requires_grad_(requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the backend's generator (seeded by :func:`manual_seed`)."""
    be = _resolve(device)
    return Tensor._make(be.rand(_shape(shape), _dtype(dtype)), False, None).requires_grad_(requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the backend's generator (seeded by :func:`manual_seed`)."""
    be = _resolve(device)
    return Tensor._make(be.randn(_shape(shape), _dtype(dtype)), False, None).requires_grad_(requires_grad)
