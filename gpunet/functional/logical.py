"""Comparisons, bitwise/boolean operators and predicates, as PyTorch has them: none has a gradient.

Comparisons (``lt le gt ge eq ne`` and the aliases ``less greater …``) and predicates (``isnan isinf isfinite``,
``any all``) give bool tensors that do not require grad; ``count_nonzero`` gives int64. ``bitwise_and/or/xor``
(``& | ^``) and ``bitwise_not`` (``~``) take bool and integer tensors only, promoted as torch (``bool & int`` is
int64), and refuse floats as torch does. ``allclose`` and ``equal`` return Python bools (a host read).

Operands are unwrapped as every other op unwraps them: NumPy scalars and 0-d arrays act as Python scalars, and a
NumPy array beside a CUDA tensor raises :class:`~gpunet.backend.DeviceMismatchError`.
"""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from ..autograd._dims import canonical_dims
from ..autograd.tensor import Tensor
from ._dtypes import promote

__all__ = ["lt", "le", "gt", "ge", "eq", "ne", "less", "less_equal", "greater", "greater_equal", "not_equal",
           "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "isnan", "isinf", "isfinite", "any", "all",
           "count_nonzero", "allclose", "equal"]


def _arrays(op, *operands):
    """``(backend, arrays)``: Tensors unwrapped, NumPy scalars and 0-d arrays made Python scalars."""
    out = []
    for o in operands:
        if isinstance(o, Tensor):
            o = o.data
        elif isinstance(o, np.generic) or (type(o) is np.ndarray and o.ndim == 0):
            o = o.item()
        out.append(o)
    return _backend.backend_of(out, op, ("input", "other")), out


def _wrap(a):
    return Tensor._make(a, False, None)


def _compare(ufunc):
    def op(input, other):
        be, (a, b) = _arrays(ufunc, input, other)
        return _wrap(getattr(be.xp, ufunc)(a, b))

    return op


lt = less = _compare("less")
le = less_equal = _compare("less_equal")
gt = greater = _compare("greater")
ge = greater_equal = _compare("greater_equal")
eq = _compare("equal")
ne = not_equal = _compare("not_equal")
for _f, _n in ((lt, "lt"), (le, "le"), (gt, "gt"), (ge, "ge"), (eq, "eq"), (ne, "ne")):
    _f.__name__ = _f.__qualname__ = _n
    _f.__doc__ = f"Elementwise ``{_n}`` (broadcasting): a bool tensor without gradient."
del _f, _n


def _check_integral(op, arrays):
    for a in arrays:
        kind = a.dtype.kind if hasattr(a, "dtype") else ("b" if isinstance(a, bool) else
                                                         "i" if isinstance(a, int) else "f")
        if kind not in "biu":
            dt = a.dtype if hasattr(a, "dtype") else type(a).__name__
            raise TypeError(f"{op}: only bool and integer tensors are supported, got {dt}; compare first "
                            f"(x > 0) or cast (x.long(), x.bool())")


def _bitwise(ufunc, name):
    def op(input, other):
        be, (a, b) = _arrays(name, input, other)
        _check_integral(name, (a, b))
        a, b = promote(a, b)
        return _wrap(getattr(be.xp, ufunc)(a, b))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{name}`` of bool/integer tensors (PyTorch's promotion); no gradient."
    return op


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")


def bitwise_not(input):
    """``~input``: logical not of a bool tensor, bitwise not of an integer one; no gradient."""
    be, (a,) = _arrays("bitwise_not", input)
    if not hasattr(a, "dtype") or a.dtype.kind not in "biu":
        raise TypeError("~ (bitwise_not) is only implemented on integer and bool tensors, got "
                        f"{getattr(a, 'dtype', type(a).__name__)}; use logical negation of a comparison instead")
    return _wrap(be.xp.invert(a))


def _unary(ufunc):
    def op(input):
        be, (a,) = _arrays(ufunc, input)
        return _wrap(getattr(be.xp, ufunc)(a))

    op.__name__ = op.__qualname__ = ufunc
    op.__doc__ = f"Elementwise ``{ufunc}``: a bool tensor without gradient (all False/True for integers)."
    return op


isnan = _unary("isnan")
isinf = _unary("isinf")
isfinite = _unary("isfinite")


def _reduce_bool(name):
    def op(input, dim=None, keepdim=False):
        be, (a,) = _arrays(name, input)
        axis = canonical_dims(dim, a.ndim, name)
        out = getattr(a.astype(bool, copy=False), name)(axis=axis, keepdims=bool(keepdim))
        if a.dtype == np.uint8:  # as torch: uint8 in, uint8 out
            out = out.astype(np.uint8)
        return _wrap(be.xp.asarray(out))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"Whether {'any' if name == 'any' else 'every'} element is nonzero, over ``dim`` (an int, a "
                  f"tuple, or None for all) with ``keepdim``: a bool tensor (uint8 for uint8 input), no gradient.")
    return op


any = _reduce_bool("any")
all = _reduce_bool("all")


def count_nonzero(input, dim=None):
    """The number of nonzero elements over ``dim`` (an int, a tuple, or None for all): int64, as torch."""
    be, (a,) = _arrays("count_nonzero", input)
    axis = canonical_dims(dim, a.ndim, "count_nonzero")
    return _wrap(be.xp.asarray((a != 0).sum(axis=axis, dtype=np.int64)))


def _broadcast_check(op, a, b):
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"{op}: the shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast "
                           f"together") from None


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """``|input - other| <= atol + rtol·|other|`` everywhere (broadcasting), as a Python bool. Both must be
    tensors of one dtype, as torch requires."""
    be, (a, b) = _arrays("allclose", input, other)
    for x in (a, b):
        if not hasattr(x, "dtype"):
            raise TypeError(f"allclose: expected tensors, got {type(x).__name__}")
    if a.dtype != b.dtype:
        raise RuntimeError(f"allclose: the dtypes differ ({a.dtype} and {b.dtype}); cast one (x.to(y.dtype))")
    _broadcast_check("allclose", a, b)
    return bool(Tensor._make(be.xp.asarray(be.xp.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)),
                             False, None))


def equal(input, other) -> bool:
    """True when both tensors have the same shape and the same elements (values compared after promotion, as
    torch); a Python bool."""
    be, (a, b) = _arrays("equal", input, other)
    if a.shape != b.shape:
        return False
    return bool(Tensor._make(be.xp.asarray((a == b).all()), False, None))
