"""A NumPy-backed stand-in for the parts of CuPy that gpunet uses, so the UNCHANGED ``CupyBackend`` runs on a CPU.

Install it as ``sys.modules["cupy"]`` (:func:`install` does that and ``cupyx`` too) before gpunet looks for CuPy.
The CUDA kernels are compiled and run by the emulator (``emulator.py``) through :class:`RawModule`.

Modelled, as CuPy does it:

* :class:`ndarray` wraps a host array (``_a``) and is NOT a ``numpy.ndarray``: another device. Host arrays are
  refused where CuPy refuses them (operators, ufuncs, functions: ``TypeError: Unsupported type <class
  'numpy.ndarray'>``); NumPy scalars and Python scalars are accepted; host arrays and lists ARE accepted as
  indices, by ``array``/``asarray`` (a copy to the device) and as the value of an advanced-index assignment.
  ``numpy.asarray(x)`` raises (``__array__``); ``get()``, ``asnumpy`` and ``set()`` are the transfers. NumPy
  functions and ufuncs called on device arrays dispatch here (``__array_function__``/``__array_ufunc__``).
* Views: ``base`` is the root array that owns the memory, the same object for every view; None for arrays that
  own their memory. ``ascontiguousarray``/``asarray``/``astype(copy=False)`` return the input when nothing changes.
* Reductions and integer indexing give 0-d arrays (integer indexing a 0-d VIEW), never scalars.
* Host syncs: :data:`SYNCS` counts every device->host read: ``get``, ``item``, ``tolist``, ``float/int/complex/
  bool/index``, ``repr/str/format``, pickling, ``asnumpy``, ops whose output size depends on the data (boolean
  masks, ``nonzero``, ``unique``, one-argument ``where`` ...), and ``Stream/Device/Event.synchronize``.
  :data:`SYNC_KINDS` splits the count by kind; :func:`reset_syncs` zeroes both.
* ``random.RandomState`` (NumPy's PCG64 underneath: deterministic from the seed, NOT CuPy's cuRAND streams); its
  floating draws take only float32/float64 (TypeError otherwise, as CuPy). ``cuda``: one device (id 0, compute
  capability 9.0), streams/events/memory pools as inert objects. ``add.at`` and friends keep CuPy's dtype limits.

Not modelled: asynchrony (work runs at once; streams are labels and Event times are host times); several devices;
memory-pool accounting (0 bytes); ElementwiseKernel/ReductionKernel/fuse; CuPy's own numerics (results are
NumPy's); NumPy functions and dtypes that CuPy lacks are served as well; read-only views (``broadcast_to``) stay
read-only as in NumPy while CuPy's are writable; the exact wording of CuPy errors other than those quoted above.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import types
import typing

import numpy as np

from . import _fakearray as _fa

SYNC_KINDS, ndarray, reset_syncs, syncs = _fa.SYNC_KINDS, _fa.ndarray, _fa.reset_syncs, _fa.syncs
_fakes, _index, _new, _operand, _refuse, _sync, _unwrap, _wrap = (
    _fa._fakes, _fa._index, _fa._new, _fa._operand, _fa._refuse, _fa._sync, _fa._unwrap, _fa._wrap)

__version__ = "14.2.0-emulated"
__path__: list = []  # a package to the import system, so `import cupy.cuda` finds the namespaces below
newaxis = None
_fa._M = sys.modules[__name__]

# ------------------------------------------------------------------------------------------- ufuncs, functions
_AT_DTYPES = {"add": "int32 float16 float32 float64 uint32 uint64", "maximum": "int32 float32 float64 uint32 uint64",
              "minimum": "int32 float32 float64 uint32 uint64"}


class ufunc:
    """A NumPy ufunc on device arrays: operands (and ``out``/``where``) must be device arrays or scalars."""

    def __init__(self, f: np.ufunc):
        self._f, self.__name__, self.nin, self.nout, self.nargs = f, f.__name__, f.nin, f.nout, f.nargs

    def __repr__(self):
        return f"<ufunc '{self.__name__}' (fakecupy)>"

    @staticmethod
    def _kw(kw):
        for k in ("out", "where"):
            v = kw.get(k)
            if v is not None:
                kw[k] = tuple(_operand(o) for o in v) if type(v) is tuple else _operand(v)
        return kw

    def __call__(self, *args, **kw):
        return _wrap(self._f(*[_operand(a) for a in args], **self._kw(dict(kw))), _fakes(args, kw))

    def at(self, a, indices, b=None) -> None:
        """Unbuffered ``a[indices] op= b`` (CuPy's scatter kernels, with their dtype limits)."""
        if type(a) is not ndarray:
            _refuse(a)
        allowed = _AT_DTYPES.get(self.__name__)
        if allowed and a.dtype.name not in allowed.split():
            raise TypeError(f"cupy.{self.__name__}.at only supports {allowed.replace(' ', ', ')} as data type")
        self._f.at(a._a, _index(indices), *(() if b is None else (_operand(b),)))

    def _method(self, name, a, *args, **kw):
        return _wrap(getattr(self._f, name)(_operand(a), *_unwrap(args), **self._kw(dict(kw))), _fakes((a,), kw))

    def reduce(self, a, *args, **kw):
        return self._method("reduce", a, *args, **kw)

    def accumulate(self, a, *args, **kw):
        return self._method("accumulate", a, *args, **kw)

    def outer(self, a, b, **kw):
        return _wrap(self._f.outer(_operand(a), _operand(b), **self._kw(dict(kw))), _fakes((a, b), kw))


# Functions whose arguments after the first are axes/shapes/indices, where CuPy takes host arrays (converting them);
# and keyword arguments of that kind in any function. Everywhere else host arrays are refused.
_HOST_OK = {"split", "array_split", "take", "put", "transpose", "reshape", "moveaxis", "expand_dims", "squeeze",
            "tile", "roll", "broadcast_to", "repeat", "resize", "flip", "rot90", "swapaxes", "sum", "prod", "mean",
            "std", "var", "max", "min", "amax", "amin", "argmax", "argmin", "any", "all", "cumsum", "cumprod",
            "nansum", "nanmean", "nanmax", "nanmin", "pad"}
_HOST_KW = {"axis", "axes", "shape", "newshape", "source", "destination", "reps", "shift", "repeats",
            "indices_or_sections", "pad_width"}
_SYNCING = {"nonzero", "argwhere", "flatnonzero", "unique", "compress", "extract", "trim_zeros"}  # data-sized output
_BOOL_RESULTS = {"allclose", "array_equal", "array_equiv"}  # a Python bool in NumPy, a 0-d array in CuPy
_CACHE: dict = {}


def _function(f, name):
    def w(*args, **kw):
        if name in _SYNCING:
            _sync("shape")
        a = (_unwrap(args[:1]) + _unwrap(args[1:], True)) if name in _HOST_OK else _unwrap(args)
        r = f(*a, **{n: _unwrap(v, n in _HOST_KW) for n, v in kw.items()})
        return _wrap(np.asarray(r) if name in _BOOL_RESULTS else r, _fakes(args, kw))
    w.__name__ = w.__qualname__ = name
    w.__doc__ = f"numpy.{name} on device arrays (fakecupy: host arrays refused, results on the device)."
    return w


def _wrap_attr(obj, name):
    if isinstance(obj, np.ufunc):
        return ufunc(obj)
    if isinstance(obj, types.ModuleType):
        return _namespace(f"cupy.{name}", __getattr__=lambda n, _m=obj: _wrap_attr(getattr(_m, n), n))
    if callable(obj) and not isinstance(obj, type):
        return _function(obj, name)
    return obj  # dtypes and other classes, constants


def _attr(name):
    w = _CACHE.get(name)
    if w is None:
        w = _CACHE[name] = _wrap_attr(getattr(np, name), name)
    return w


def __getattr__(name):
    """Everything not defined here: NumPy's attribute of that name, wrapped for device arrays (and ``SYNCS``)."""
    if name == "SYNCS":
        return _fa.SYNCS
    if name.startswith("__") or not hasattr(np, name):
        raise AttributeError(f"module 'cupy' has no attribute {name!r}")
    return _attr(name)


for _n in ("float16", "float32", "float64", "complex64", "complex128", "int8", "int16", "int32", "int64", "uint8",
           "uint16", "uint32", "uint64", "bool_", "intp", "uintp", "dtype", "finfo", "iinfo", "generic", "number",
           "integer", "floating", "inf", "nan", "pi", "e"):
    globals()[_n] = getattr(np, _n)


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, blocking=False):
    """A device array from device arrays, host arrays (a copy to the device), lists or scalars."""
    if type(obj) is ndarray and copy is not True:
        return _wrap(np.array(obj._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin), (obj,))
    return _new(np.array(_unwrap(obj, host_ok=True), dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asarray(a, dtype=None, order=None, blocking=False):
    """``a`` itself when it is a device array of that dtype, else a device copy."""
    return array(a, dtype, copy=None, order=order or "K")


asanyarray = asarray


def ascontiguousarray(a, dtype=None):
    """``a`` itself when already C-contiguous of ``dtype``, else a C-contiguous copy (0-d stays 0-d, as CuPy)."""
    if type(a) is not ndarray:
        _refuse(a)
    dt = a.dtype if dtype is None else np.dtype(dtype)
    return a if a._a.flags.c_contiguous and a.dtype == dt else _new(np.array(a._a, dtype=dt, order="C"))


def asnumpy(a, stream=None, order="C", out=None, blocking=True) -> np.ndarray:
    """A host copy of ``a`` (a host sync for a device array)."""
    if type(a) is ndarray:
        return a.get(stream, order, out)
    return np.asarray(a, order=order)


def empty(shape, dtype=float, order="C"):
    return _new(np.empty(shape, dtype, order))


def zeros(shape, dtype=float, order="C"):
    return _new(np.zeros(shape, dtype, order))


def ones(shape, dtype=float, order="C"):
    return _new(np.ones(shape, dtype, order))


def full(shape, fill_value, dtype=None, order="C"):
    if isinstance(fill_value, np.ndarray) and fill_value.ndim:
        raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
    return _new(np.full(shape, fill_value._a if type(fill_value) is ndarray else fill_value, dtype, order))


def _like(f):
    def w(a, *args, dtype=None, order="K", subok=None, shape=None):
        return _new(f(a._a if type(a) is ndarray else a, *_unwrap(args), dtype=dtype, order=order, shape=shape))
    w.__name__ = f.__name__
    return w


empty_like, zeros_like, ones_like, full_like = map(_like, (np.empty_like, np.zeros_like, np.ones_like, np.full_like))


def arange(start, stop=None, step=None, dtype=None):
    return _new(np.arange(start, stop, 1 if step is None else step, dtype=dtype))


def _two_devices(a, b):
    if type(a) is not ndarray:
        _refuse(a)
    if type(b) is not ndarray:
        _refuse(b)
    return a._a, b._a


def may_share_memory(a, b, max_work=None) -> bool:
    return bool(np.may_share_memory(*_two_devices(a, b)))


def shares_memory(a, b, max_work=None) -> bool:
    return bool(np.shares_memory(*_two_devices(a, b)))


def where(condition, x=None, y=None):
    if x is None and y is None:
        _sync("shape")
        return _wrap(np.nonzero(_operand(condition)))
    return _wrap(np.where(_operand(condition), _operand(x), _operand(y)), _fakes((condition, x, y)))


def copyto(dst, src, casting="same_kind", where=True):
    if type(dst) is not ndarray:
        _refuse(dst)
    if isinstance(src, np.ndarray) and src.ndim:
        raise ValueError("non-scalar numpy.ndarray cannot be used for copyto")
    np.copyto(dst._a, src._a if type(src) is ndarray else src, casting=casting,
              where=where._a if type(where) is ndarray else where)


def get_array_module(*args):
    return sys.modules[__name__] if any(type(a) is ndarray for a in args) else np


def is_available() -> bool:
    return True


from . import _fakecuda as _fc  # (it needs the machinery above)

cuda, random, RawKernel, RawModule = _fc.cuda, _fc.random, _fc.RawKernel, _fc.RawModule
get_default_memory_pool = _fc.get_default_memory_pool
get_default_pinned_memory_pool = _fc.get_default_pinned_memory_pool


# --------------------------------------------------------------------------------- submodule imports, install
def _namespace(name: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__path__ = []
    m.__dict__.update(attrs)
    return m


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``import cupy.cuda`` / ``import cupyx.scipy.special`` to the namespaces of the fakes, only while
    the fake is the module of that top-level name."""

    fakes: typing.ClassVar[dict] = {}

    def _find(self, fullname):
        top, _, rest = fullname.partition(".")
        obj = self.fakes.get(top)
        if not rest or obj is None or sys.modules.get(top) is not obj:
            return None
        for part in rest.split("."):
            obj = getattr(obj, part, None)
        return obj if isinstance(obj, types.ModuleType) else None

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if self._find(fullname) is not None else None

    def create_module(self, spec):
        return self._find(spec.name)

    def exec_module(self, module):
        pass


_Finder.fakes["cupy"] = sys.modules[__name__]
sys.meta_path.append(_Finder())


def install() -> None:
    """Make ``import cupy`` / ``import cupyx`` give the fakes (clears earlier ``cupy.*``/``cupyx.*`` entries)."""
    from . import fakecupyx

    uninstall()
    sys.modules["cupy"], sys.modules["cupyx"] = sys.modules[__name__], fakecupyx


def uninstall() -> None:
    for k in [k for k in sys.modules if k.split(".")[0] in ("cupy", "cupyx")]:
        del sys.modules[k]
