"""A NumPy-backed stand-in for the parts of ``cupyx`` that gpunet uses; install as ``sys.modules["cupyx"]`` beside
:mod:`fakecupy` (``fakecupy.install()`` does both).

Modelled: ``scatter_add``/``scatter_max``/``scatter_min`` (unbuffered, in place: NumPy's ``ufunc.at`` on the
device buffers, with CuPy's dtype limits; host arrays refused as ``a`` and ``value``, accepted as indices);
``cupyx.scipy.special`` ``erf``, ``erfc``, ``ndtr``, ``gammaln``, ``expit``, ``logit`` on device arrays (float32
in, float32 out; float64 for float64 and integers), computed with :mod:`math` element by element (correctly
rounded double results, slow on large arrays); ``rsqrt``; ``errstate``/``seterr``/``geterr`` (NumPy's);
``empty_pinned`` and friends (plain host arrays). ``import cupyx.scipy.special`` works while this module is
``sys.modules["cupyx"]``.

Not modelled: the rest of ``cupyx`` (jit, profiler, sparse, linalg, other scipy modules), pinned memory itself.
"""
from __future__ import annotations

import math
import sys
import types

import numpy as np

from . import fakecupy as _cp

__path__: list = []  # a package to the import system, so `import cupyx.scipy.special` resolves below


def scatter_add(a, slices, value) -> None:
    """``a[slices] += value`` with repeated indices accumulated, in place (CuPy: atomicAdd)."""
    _cp.add.at(a, slices, value)


def scatter_max(a, slices, value) -> None:
    _cp.maximum.at(a, slices, value)


def scatter_min(a, slices, value) -> None:
    _cp.minimum.at(a, slices, value)


def rsqrt(x, out=None):
    return _cp.reciprocal(_cp.sqrt(x), **({} if out is None else {"out": out}))


def _elementwise(fn, name, doc):
    vec = np.frompyfunc(fn, 1, 1)

    def f(x):
        if type(x) is not _cp.ndarray and not isinstance(x, (int, float, np.generic)):
            _cp._refuse(x)
        a = x._a if type(x) is _cp.ndarray else np.asarray(x)
        dt = np.result_type(a.dtype, np.float32) if a.dtype.kind == "f" else np.dtype(np.float64)
        out = vec(a.astype(np.float64)) if a.size else np.empty(a.shape)
        return _cp._new(np.asarray(out, dtype=np.float64).astype(dt))
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


def _expit(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _logit(v):
    return math.log(v / (1.0 - v)) if 0.0 < v < 1.0 else (-math.inf if v == 0 else math.inf if v == 1 else math.nan)


def _gammaln(v):
    try:
        return math.lgamma(v)
    except ValueError:  # poles
        return math.inf


special = types.ModuleType("cupyx.scipy.special")
special.__path__ = []
special.__dict__.update(
    erf=_elementwise(math.erf, "erf", "Error function."),
    erfc=_elementwise(math.erfc, "erfc", "Complementary error function."),
    ndtr=_elementwise(lambda v: 0.5 * math.erfc(-v / math.sqrt(2.0)), "ndtr", "Standard normal CDF."),
    gammaln=_elementwise(_gammaln, "gammaln", "log |Gamma(x)|."),
    expit=_elementwise(_expit, "expit", "Logistic sigmoid."),
    logit=_elementwise(_logit, "logit", "log(p / (1 - p))."))
scipy = types.ModuleType("cupyx.scipy")
scipy.__path__ = []
scipy.special = special

errstate, seterr, geterr = np.errstate, np.seterr, np.geterr


def empty_pinned(shape, dtype=float, order="C"):
    return np.empty(shape, dtype, order)


def zeros_pinned(shape, dtype=float, order="C"):
    return np.zeros(shape, dtype, order)


def empty_like_pinned(a, dtype=None, order="K", subok=None, shape=None):
    return np.empty(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


def zeros_like_pinned(a, dtype=None, order="K", subok=None, shape=None):
    return np.zeros(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


_cp._Finder.fakes["cupyx"] = sys.modules[__name__]
