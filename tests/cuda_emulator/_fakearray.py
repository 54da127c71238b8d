"""The array of :mod:`fakecupy`: :class:`ndarray`, a device array held as a host NumPy array, and the host-sync counter.

See :mod:`fakecupy` for what is modelled. Here: the wrapper (never a ``numpy.ndarray`` subclass), its operators
(reflected and in place; in-place ones write into the same memory), views whose ``base`` is the one root array
owning the memory, 0-d results for reductions and integer indexing, the refusal of host arrays where CuPy refuses
them, the explicit transfers and the counting of every device->host read in :data:`SYNCS`.
"""
from __future__ import annotations

import collections
import operator

import numpy as np

_M = None  # the fakecupy module (bound by it): its ufuncs, ``cuda`` and functions
SYNCS = 0
SYNC_KINDS: collections.Counter = collections.Counter()
_SCALARS = (int, float, complex, np.generic)
_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy "
             "array explicitly.")


def _sync(kind: str) -> None:
    global SYNCS
    SYNCS += 1
    SYNC_KINDS[kind] += 1


def reset_syncs() -> None:
    """Zero :data:`SYNCS` and :data:`SYNC_KINDS`."""
    global SYNCS
    SYNCS = 0
    SYNC_KINDS.clear()


def syncs(kind: str | None = None) -> int:
    """Host syncs so far (of one ``kind``: "get", "item", "float", "mask", "shape", "stream", ...)."""
    return SYNCS if kind is None else SYNC_KINDS[kind]


# ------------------------------------------------------------------------------------ unwrapping and wrapping
def _refuse(x):
    raise TypeError(f"Unsupported type {type(x)}")


def _operand(x):
    """An operand of a ufunc or operator: a device array's buffer, or a scalar; anything else is refused."""
    if type(x) is ndarray:
        return x._a
    if isinstance(x, _SCALARS) and not isinstance(x, np.ndarray):
        return x
    _refuse(x)


def _unwrap(x, host_ok=False):
    """A function argument: device arrays unwrapped (also inside lists/tuples); host arrays refused."""
    t = type(x)
    if t is ndarray:
        return x._a
    if isinstance(x, np.ndarray):
        return x if host_ok else _refuse(x)
    if t is list or t is tuple:
        return t(_unwrap(v, host_ok) for v in x)
    return x


def _fakes(args, kw=None) -> list:
    out = []
    for a in (*args, *(kw.values() if kw else ())):
        if type(a) is ndarray:
            out.append(a)
        elif type(a) in (list, tuple):
            out.extend(v for v in a if type(v) is ndarray)
    return out


def _owner(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _new(a: np.ndarray, root=None) -> ndarray:
    r = object.__new__(ndarray)
    r._a, r._root = a, root
    return r


def _wrap(r, srcs=()):
    """A NumPy result as device arrays: an input itself when NumPy returned its buffer, a view (base = the input's
    root) when it shares an input's memory, else a new array; scalars become 0-d arrays."""
    if isinstance(r, np.ndarray):
        for s in srcs:
            if r is s._a:
                return s
        if srcs:
            own = _owner(r)
            for s in srcs:
                if own is _owner(s._a):
                    return _new(r, s if s._root is None else s._root)
        return _new(r)
    if isinstance(r, np.generic):
        return _new(np.asarray(r))
    if isinstance(r, tuple) and hasattr(r, "_fields"):
        return type(r)(*(_wrap(v, srcs) for v in r))
    if isinstance(r, (tuple, list)):
        return type(r)(_wrap(v, srcs) for v in r)
    return r


def _index(key):
    """An index: device arrays unwrapped; host arrays and lists kept (CuPy copies them to the device)."""
    if type(key) is tuple:
        return tuple(k._a if type(k) is ndarray else k for k in key)
    return key._a if type(key) is ndarray else key


def _parts(k):
    return k if type(k) is tuple else (k,)


def _advanced(k) -> bool:
    return any(isinstance(p, (np.ndarray, list)) for p in _parts(k))


def _has_mask(k) -> bool:
    return any((isinstance(p, np.ndarray) and p.dtype == np.bool_ and p.ndim > 0)
               or (type(p) is list and p and type(p[0]) is bool) for p in _parts(k))


class _Flags:
    def __init__(self, x):
        f = x._a.flags
        self.c_contiguous, self.f_contiguous, self.owndata = f.c_contiguous, f.f_contiguous, x._root is None

    def __getitem__(self, key):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous, "OWNDATA": self.owndata}[key]

    def __repr__(self):
        return f"  C_CONTIGUOUS : {self.c_contiguous}\n  F_CONTIGUOUS : {self.f_contiguous}\n  OWNDATA : {self.owndata}"


class _MemoryPointer:
    def __init__(self, ptr):
        self.ptr, self.device_id = ptr, 0


# --------------------------------------------------------------------------------------------------- ndarray
class ndarray:
    """An array on the (emulated) device. ``cupy.ndarray(shape, dtype)`` is uninitialised, as ``empty``."""

    __slots__ = ("__weakref__", "_a", "_root")
    __array_priority__ = 100.0  # CuPy's: above NumPy's, below gpunet's Tensor (whose reflected operators win)
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a, self._root = np.empty(shape, dtype=dtype, order=order), None

    def _set_shape(self, shape):
        self._a = self._a.reshape(shape, copy=False)  # raises where a view cannot have that shape, as CuPy

    shape = property(lambda s: s._a.shape, _set_shape)
    dtype = property(lambda s: s._a.dtype)
    ndim = property(lambda s: s._a.ndim)
    size = property(lambda s: s._a.size)
    itemsize = property(lambda s: s._a.itemsize)
    nbytes = property(lambda s: s._a.nbytes)
    strides = property(lambda s: s._a.strides)
    base = property(lambda s: s._root, doc="The root array owning the memory (None when this one owns it).")
    flags = property(_Flags)
    T = property(lambda s: _wrap(s._a.T, (s,)))
    mT = property(lambda s: _wrap(s._a.mT, (s,)))
    real = property(lambda s: _wrap(s._a.real, (s,)))
    imag = property(lambda s: _wrap(s._a.imag, (s,)))
    data = property(lambda s: _MemoryPointer(s._a.ctypes.data))
    device = property(lambda s: _M.cuda.Device(0))

    @property
    def __cuda_array_interface__(self):
        a = self._a
        return {"shape": a.shape, "typestr": a.dtype.str, "descr": [("", a.dtype.str)],
                "data": (a.ctypes.data, False), "strides": None if a.flags.c_contiguous else a.strides,
                "version": 3}

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, uf, method, *inputs, **kw):
        cu = _M._attr(uf.__name__) if hasattr(np, uf.__name__) else None
        if not isinstance(cu, _M.ufunc):
            return NotImplemented
        return cu(*inputs, **kw) if method == "__call__" else getattr(cu, method)(*inputs, **kw)

    def __array_function__(self, func, types_, args, kwargs):
        mod = _M
        for part in func.__module__.split(".")[1:]:
            mod = getattr(mod, part, None)
        f = getattr(mod, func.__name__, None) or getattr(_M, func.__name__, None)
        return NotImplemented if f is None or f is func else f(*args, **kwargs)

    # ------------------------------------------------------------------ transfers (each one a host sync)
    def get(self, stream=None, order="C", out=None, blocking=True) -> np.ndarray:
        _sync("get")
        if out is not None:
            if not isinstance(out, np.ndarray) or out.shape != self.shape or out.dtype != self.dtype:
                raise TypeError("`out` must be a numpy.ndarray of the same shape and dtype")
            np.copyto(out, self._a)
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None) -> None:
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if arr.dtype != self.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        if not (self._a.flags.c_contiguous or self._a.flags.f_contiguous):
            raise RuntimeError("Cannot set to non-contiguous array")
        np.copyto(self._a, arr)

    def item(self, *args):
        _sync("item")
        return self._a.item(*args)

    def tolist(self):
        _sync("tolist")
        return self._a.tolist()

    def __reduce__(self):
        _sync("pickle")
        return (_M.array, (self._a.copy(),))

    def __repr__(self):
        _sync("repr")
        return repr(self._a)

    def __str__(self):
        _sync("repr")
        return str(self._a)

    def __format__(self, spec):
        _sync("repr")
        return self._a.__format__(spec)

    # ------------------------------------------------------------------ structure
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __contains__(self, value):
        return bool((self == value).any())

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __getitem__(self, key):
        k = _index(key)
        if _has_mask(k):
            _sync("mask")
        r = self._a[k]
        if not isinstance(r, np.ndarray):  # integer indices: a 0-d view, as CuPy, not a scalar
            r = self._a[_parts(k) + (Ellipsis,)]
        return _wrap(r, (self,))

    def __setitem__(self, key, value):
        k = _index(key)
        if _has_mask(k):
            _sync("mask")
        if type(value) is ndarray:
            value = value._a
        elif isinstance(value, np.ndarray) and value.ndim and not _advanced(k):
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        elif isinstance(value, (list, tuple)) and not _advanced(k):
            _refuse(value)
        self._a[k] = value

    def fill(self, value) -> None:
        if type(value) is ndarray or isinstance(value, np.ndarray):
            if value.ndim:
                raise ValueError(f"non-scalar {'cupy' if type(value) is ndarray else 'numpy'}.ndarray cannot be "
                                 f"used for fill")
            value = value._a if type(value) is ndarray else value
        self._a.fill(value)

    def view(self, dtype=None, type=None):
        return _wrap(self._a.view() if dtype is None else self._a.view(dtype), (self,))


def _method(name, host_ok=True, syncs=False):
    """``ndarray.<name>``; host arrays are taken in its arguments (axes, shapes, indices: CuPy converts them)
    unless ``host_ok`` is False (data operands: ``dot``, ``clip``, ``searchsorted``, ``choose``)."""
    def m(self, *args, **kw):
        if syncs:
            _sync("shape")
        a = _unwrap(args, host_ok)
        r = getattr(self._a, name)(*a, **{n: _unwrap(v, host_ok) for n, v in kw.items()})
        return _wrap(r, [self, *_fakes(args, kw)])
    m.__name__ = m.__qualname__ = name
    m.__doc__ = f"numpy.ndarray.{name} on the device (a 0-d array for scalars; views keep their root as base)."
    return m


for _n in ("reshape", "transpose", "swapaxes", "ravel", "flatten", "squeeze", "astype", "copy", "sum", "mean", "max",
           "min", "argmax", "argmin", "any", "all", "var", "std", "prod", "cumsum", "cumprod", "repeat", "round",
           "conj", "conjugate", "diagonal", "trace", "sort", "argsort", "partition", "argpartition", "ptp", "take",
           "put"):
    setattr(ndarray, _n, _method(_n))
for _n in ("dot", "clip", "searchsorted", "choose"):
    setattr(ndarray, _n, _method(_n, host_ok=False))
ndarray.nonzero, ndarray.compress = _method("nonzero", syncs=True), _method("compress", syncs=True)

for _n, _k in (("float", float), ("int", int), ("complex", complex), ("bool", bool), ("index", operator.index)):
    def _conv(self, _n=_n, _k=_k):
        _sync(_n)
        return _k(self._a)
    setattr(ndarray, f"__{_n}__", _conv)


def _defer(other) -> bool:
    """True where Python should try ``other``'s reflected operator (CuPy's rule: higher priority, or
    ``__array_ufunc__ = None``)."""
    if type(other) is ndarray or isinstance(other, (np.ndarray, np.generic, int, float, complex)):
        return False
    return getattr(other, "__array_priority__", 0) > 100.0 or getattr(other, "__array_ufunc__", 0) is None


def _operators(op, uf_name, reflected=True, inplace=True):
    def fwd(self, other, *mod):
        if _defer(other) or (op in ("eq", "ne") and not isinstance(other, (ndarray, np.ndarray, list, *_SCALARS))):
            return NotImplemented  # x == None: Python's identity fallback
        return _M._attr(uf_name)(self, other)

    def rev(self, other):
        return NotImplemented if _defer(other) else _M._attr(uf_name)(other, self)

    def inp(self, other):
        if _defer(other):
            return NotImplemented
        _M._attr(uf_name)(self, other, out=self)
        return self
    setattr(ndarray, f"__{op}__", fwd)
    if reflected:
        setattr(ndarray, f"__r{op}__", rev)
    if inplace:
        setattr(ndarray, f"__i{op}__", inp)


for _op, _uf in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("truediv", "true_divide"),
                 ("floordiv", "floor_divide"), ("mod", "remainder"), ("pow", "power"), ("matmul", "matmul"),
                 ("and", "bitwise_and"), ("or", "bitwise_or"), ("xor", "bitwise_xor"), ("lshift", "left_shift"),
                 ("rshift", "right_shift")):
    _operators(_op, _uf)
_operators("divmod", "divmod", inplace=False)
for _op, _uf in (("lt", "less"), ("le", "less_equal"), ("eq", "equal"), ("ne", "not_equal"), ("gt", "greater"),
                 ("ge", "greater_equal")):
    _operators(_op, _uf, reflected=False, inplace=False)
for _op, _uf in (("neg", "negative"), ("pos", "positive"), ("abs", "absolute"), ("invert", "invert")):
    setattr(ndarray, f"__{_op}__", lambda self, _uf=_uf: _M._attr(_uf)(self))
