"""Shared helpers of the loss functions (:mod:`gpunet.functional.loss`); no loss lives here.

Argument handling (raw data, moving targets and constants to the input's device and dtype, reduction and dtype
checks, shape checks, class weights), class-index targets (integer check, label range check, the note added to
device-side errors), the (rows, C) layout of class-index problems and back, and the reductions with their
gradients ('mean' over a count or a weight sum, nan for an empty batch).
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import backend_of
from .math import cast, reshape, transpose

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")


# ====================================================================== argument handling
def _data(a):
    return a.data if isinstance(a, Tensor) else a


def _check_reduction(reduction, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction={reduction!r} is not valid; expected 'mean', 'sum' or 'none'")


def _check_float_input(input, op: str) -> None:
    if not hasattr(input, "dtype") or np.dtype(input.dtype).kind != "f":
        raise TypeError(f"{op}: input must be a floating tensor, got "
                        f"{getattr(input, 'dtype', type(input).__name__)}; convert it with .float()")


def _on_device_of(input, a, dtype=None):
    """A raw array (list, NumPy or CuPy array, Tensor's data) on ``input``'s backend, optionally cast."""
    x, a = _data(input), _data(a)
    if type(a) is type(x) and (dtype is None or a.dtype == dtype):  # already there: asarray would return it
        return a
    return backend_of((x,)).asarray(a, dtype=dtype)


def _float_target(target, input, op: str):
    """``target`` with the input's floating dtype: a Tensor stays differentiable, anything else becomes an array."""
    dt = input.dtype
    if isinstance(target, Tensor):
        if target.dtype == dt:
            return target
        if np.dtype(target.dtype).kind == "f":
            return cast(target, dt)
        return Tensor._make(target.data.astype(dt), False, None)
    if np.isscalar(target):
        raise TypeError(f"{op}: target must be an array or a tensor shaped like the input, got a scalar")
    return _on_device_of(input, target, dt)


def _same_shape(input, target, op: str) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: target shape {tuple(target.shape)} does not match input shape "
                         f"{tuple(input.shape)}; they must be equal (reshape one of them, e.g. "
                         f"target.reshape({tuple(input.shape)}), or check the model's output width)")


def _const(a, input, name: str, op: str, shape=None):
    """A weight-like constant as a raw array of the input's dtype on its device; ``shape``: where it must
    broadcast to without growing it."""
    if a is None:
        return None
    arr = _on_device_of(input, a, input.dtype)
    if shape is not None:
        try:
            ok = np.broadcast_shapes(arr.shape, tuple(shape)) == tuple(shape)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{op}: {name} of shape {tuple(arr.shape)} does not broadcast to the input shape "
                             f"{tuple(shape)}")
    return arr


def _class_weight(weight, input, n_classes: int, op: str):
    w = _const(weight, input, "weight", op)
    if w is not None and tuple(w.shape) != (n_classes,):
        raise ValueError(f"{op}: weight must hold one value per class, shape ({n_classes},); got shape "
                         f"{tuple(w.shape)}")
    return w


def _index_target(target, input, n_classes: int, op: str, ignore_index=None):
    """``(t, masked)``: class indices as a raw integer array on the input's device, checked to lie in
    [0, n_classes), and whether some entry may equal ``ignore_index``.

    The check runs where the target is: a NumPy target is checked on the host before it moves, so a GPU input
    with host labels costs no device synchronisation (and ``masked`` is exact there; True when unknown).
    """
    t = _data(target)
    if not hasattr(t, "dtype"):  # a list or a Python int
        t = np.asarray(t)
    if np.dtype(t.dtype).kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be integers, got dtype {t.dtype}; convert them with "
                        f"target.astype('int64')" + (" (or give class probabilities shaped like the input)"
                                                    if op == "cross_entropy" else ""))
    masked = _check_labels(t, n_classes, op, ignore_index)
    return _on_device_of(input, t, np.int64), masked  # int64 once here: the kernels need no copy of their own


def _check_labels(target, n_classes: int, op: str, ignore_index=None) -> bool:
    """Raise IndexError naming the first label outside [0, n_classes) (``ignore_index`` is allowed); return
    whether some entry equals ``ignore_index``."""
    be = backend_of((target,))

    def report(flat):
        host = be.to_host(target)
        pos = tuple(int(i) for i in np.unravel_index(flat, host.shape))
        value = int(host.reshape(-1)[flat])
        extra = f", or ignore_index={ignore_index}" if ignore_index is not None else ""
        raise IndexError(f"{op}: target value {value} at position {pos} is out of range: class indices must be "
                         f"in [0, {n_classes}) for an input with {n_classes} classes{extra}. Check that labels "
                         f"start at 0 and that the model has one output per class.{be.deferred_note}")

    return be.check_labels(target, n_classes, ignore_index, report)


def _as_rows(input, target, op: str):
    """Class-index problems as (rows, C) inputs and (rows,) targets.

    Accepts (C,) with a () target, (N, C) with (N,), and (N, C, d1, ...) with (N, d1, ...). Returns
    ``(input2d, target1d, out_shape)`` where ``out_shape`` is the shape of the unreduced loss.
    """
    ishape, tshape = tuple(input.shape), tuple(target.shape)
    if len(ishape) == 2 and tshape == ishape[:1]:  # (N, C) with (N,): already rows
        return input, target, tshape
    if len(ishape) == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d input")
    expected = () if len(ishape) == 1 else (ishape[0],) + ishape[2:]
    if tshape != expected:
        raise ValueError(f"{op}: target shape {tshape} does not fit input shape {ishape}: class-index targets "
                         f"must have shape {expected} (the input's shape without the class dimension"
                         f"{'' if len(ishape) == 1 else ', dim 1'})")
    c = ishape[0] if len(ishape) == 1 else ishape[1]
    if len(ishape) > 2:
        perm = (0,) + tuple(range(2, len(ishape))) + (1,)
        input = transpose(input, perm)
    if len(ishape) != 2:
        input = reshape(input, (-1, c))
    return input, target.reshape(-1), tshape


def _unrows(loss, out_shape, reduction):
    if reduction == "none" and tuple(loss.shape) != tuple(out_shape):
        return reshape(loss, out_shape)
    return loss


# ====================================================================== reduction
def _reduce(loss, reduction, denom=None):
    """``loss`` reduced; 'mean' divides by ``denom`` (default: the number of elements)."""
    if reduction == "none":
        return loss
    s = loss.sum()
    if reduction == "sum":
        return s
    return _divide(s, loss.size if denom is None else denom)


def _reduce_grad(g, reduction, denom):
    """The upstream gradient of :func:`_reduce`, broadcastable to the unreduced loss."""
    if reduction != "mean":
        return g
    return _divide(g, denom)


def _divide(a, denom):
    """``a / denom`` for a 'mean': an empty or fully ignored batch (denom 0) gives nan, as torch, without a
    warning. A positive int denominator cannot divide by zero, so it skips the errstate context (µs a call)."""
    if type(denom) is int and denom > 0:
        return a / denom
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / denom


def _weights_of_rows(xp, target, weight, ignore_index, dtype, masked=True):
    """For class-index losses: ``(safe, row_w, keep, denom)``; ``None`` stands for all ones.

    ``keep`` is 1.0 where the entry counts and 0.0 where it equals ``ignore_index`` (``None`` when ``masked`` is
    False: the caller knows that no entry is ignored), ``safe`` the target with ignored entries replaced by class
    0, ``row_w`` = ``weight[target] · keep``, ``denom`` what 'mean' divides by: Σ row_w (the row count when
    ``row_w`` is ``None``). The unmasked, unweighted case costs no extra pass.
    """
    if masked:
        ignored = target == ignore_index
        safe = xp.where(ignored, 0, target)
        keep = (~ignored).astype(dtype)
        row_w = keep if weight is None else weight[safe] * keep
    else:
        safe, keep = target, None
        row_w = None if weight is None else weight[target]
    denom = target.shape[0] if row_w is None else row_w.sum()
    return safe, row_w, keep, denom


def _times(a, b):
    """``a · b`` where ``b`` may be ``None`` (all ones)."""
    return a if b is None else a * b

