"""Dtype rules: the promotion of binary ops, as PyTorch does it (NumPy's rules differ where it matters), and the
same-dtype requirement of ops that combine an input with a layer's parameters (linear, batch_norm, matmul).

Categories rank bool < integer < floating. The result takes the highest category among the operands; within it,
dimensioned tensors decide over 0-d tensors, and 0-d tensors over Python scalars, so

- ``int64 tensor * float32 tensor`` is float32 (NumPy: float64), ``int64 tensor * 2.5`` is the default float dtype;
- ``float32 tensor * float64 0-d tensor`` is float32 (NumPy: float64); two dimensioned tensors promote as NumPy.
"""
from __future__ import annotations

import numpy as np

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
# Python scalar types, and the array kinds whose dtype they leave unchanged (as NumPy 2 computes it too)
_FITS = {float: "fc", int: "iufc", bool: "biufc"}


def _scalar_category(s) -> int:
    if isinstance(s, bool):
        return 0
    if isinstance(s, int):
        return 1
    if isinstance(s, float):
        return 2
    if isinstance(s, complex):
        return 3
    return -1  # not a number: leave it to the op


def result_dtype(*operands):
    """The dtype PyTorch gives a binary op on these operands (arrays or Python scalars), or None when only
    Python scalars are given."""
    best = None  # (category, priority, [dtypes])
    for o in operands:
        dt = getattr(o, "dtype", None)
        if dt is None:
            key, dts = (_scalar_category(o), 0), []
        else:
            key, dts = (_CATEGORY.get(dt.kind, 2), 2 if o.ndim else 1), [dt]
        if best is None or key > best[0]:
            best = (key, dts)
        elif key == best[0]:
            best[1].extend(dts)
    (category, priority), dts = best
    if priority:
        return dts[0] if len(dts) == 1 else np.result_type(*dts)
    if category == 2:
        from ..autograd.tensor import get_default_dtype

        return get_default_dtype()
    return {0: np.dtype(np.bool_), 1: np.dtype(np.int64)}.get(category)


def promote(a, b, float_result: bool = False):
    """``a`` and ``b`` cast so that NumPy/CuPy computes ``a op b`` in PyTorch's result dtype (with
    ``float_result``, the default float dtype where that would be bool or integer: true division).

    The common cases (arrays of one dtype, an array and a Python scalar that leaves its dtype alone) come back
    untouched after a few type checks: every binary op pays this."""
    if not float_result:
        ta, tb = type(a), type(b)
        try:
            if tb in _FITS:
                if ta in _FITS or a.dtype.kind in _FITS[tb]:
                    return a, b
            elif ta in _FITS:
                if b.dtype.kind in _FITS[ta]:
                    return a, b
            elif a.dtype == b.dtype:
                return a, b
        except AttributeError:  # not an array nor a Python number: let the op decide
            return a, b
    target = result_dtype(a, b)
    if float_result and (target is None or target.kind in "biu"):
        from ..autograd.tensor import get_default_dtype

        target = get_default_dtype()
    if target is None:
        return a, b
    da, db = getattr(a, "dtype", None), getattr(b, "dtype", None)
    if da is not None and da != target:
        a = a.astype(target)
    if db is not None and db != target:
        b = b.astype(target)
    return a, b


def require_same_dtype(op: str, x, param, param_name: str = "weight") -> None:
    """TypeError when ``x`` (an input array) and ``param`` differ in dtype, saying how to cast: as PyTorch, a
    float32 layer computes neither int64 nor float64 input (NumPy would silently compute in float64)."""
    if x.dtype != param.dtype:
        raise TypeError(f"{op}: the input is {x.dtype} but the {param_name} is {param.dtype}; they must match. Cast "
                        f"the input (x.to(gn.{param.dtype}) for a Tensor, np.asarray(x, np.{param.dtype}) for an "
                        f"array) or the layer (model.to(gn.{param.dtype}))")
