"""In-place writes and autograd: version counters, recorded writes, and the checks that keep results right.

As in PyTorch:

- every Tensor has a version (``t._version``) that each in-place write bumps (``t[i] = v``, ``t.add_(...)``,
  ``t += ...``); a view (reshape, transpose, basic indexing, ``detach()``) shares its base's counter, because it
  shares its memory;
- a Function that saved an array for backward fails in backward with PyTorch's "modified by an inplace
  operation" error when the tensor it came from was written since (instead of a silently wrong gradient);
- a write into a tensor that is part of a graph (or of a value that requires grad) is itself recorded: the tensor
  gets a new ``grad_fn`` whose backward routes the gradient (``h = x * 2; h[0] = 5`` gives ``x.grad = [0, 2, 2]``);
- a leaf that requires grad cannot be written in place outside ``no_grad()``, nor through one of its views.

gpunet does not rebase views (PyTorch's ``CopySlices``): after a recorded write through one tensor, the other
tensors sharing its memory are *stale*, and using one in an op that records the graph raises, naming the fix.
Optimizer updates write parameters' arrays directly and are not counted (they run on leaves, under no_grad).
"""
from __future__ import annotations

import numpy as np

from .grad_mode import STATE


# A version counter is a 4-item list, shared by a tensor and its views (a list: made in ~40 ns, where a class
# instance takes ~300, and a view makes one): [V] counts every in-place write, [GRAPH] the recorded ones, [ROOT]
# is the id of the array that owns the memory, [LEAF] is set when a leaf that requires grad shares it.
V, GRAPH, ROOT, LEAF = 0, 1, 2, 3


def _root(a):
    """The array that owns ``a``'s memory (``a`` itself when it is not a view)."""
    while True:
        b = getattr(a, "base", None)
        if b is None or not hasattr(b, "shape"):
            return a
        a = b


def counter(t) -> list:
    """``t``'s version counter, created on first need. The Function that made ``t`` learns it then, so that a
    later write to its output is seen in its backward."""
    vc = t._vc
    if vc is None:
        vc = t._vc = [0, 0, id(_root(t.data)), False]
        t._gv = 0
        fn = t.grad_fn
        if fn is not None and fn.out_vc is None:
            fn.out_vc, fn.out_v = vc, 0
    if t.grad_fn is None and t.requires_grad:
        vc[LEAF] = True
    return vc


def share_view(view, base) -> None:
    """Called by ``Function.apply`` for view ops: ``view`` shares ``base``'s counter when it shares its memory."""
    data = view.data
    b = getattr(data, "base", None)
    if b is None or not hasattr(base, "data"):
        return
    vc = counter(base)
    if b is base.data or id(_root(data)) == vc[ROOT]:
        view._vc, view._gv = vc, vc[GRAPH]
        fn = view.grad_fn
        if fn is not None:
            fn.out_vc, fn.out_v = vc, vc[V]


def bump(t, recorded: bool) -> None:
    vc = counter(t)
    vc[V] += 1
    STATE.writes += 1
    if recorded:
        vc[GRAPH] += 1
        t._gv = vc[GRAPH]


def version(t) -> int:
    return 0 if t._vc is None else t._vc[V]


# ====================================================================== the checks
def check_current(args, op: str) -> None:
    """Raise when a stale tensor (its memory rewritten, through another tensor, by a recorded write) is used
    while the graph is recorded: its ``grad_fn`` no longer describes its values."""
    for a in args:
        vc = getattr(a, "_vc", None)
        if vc is not None and a._gv != vc[GRAPH]:
            raise RuntimeError(
                f"{op}: an input (a {a.dtype} tensor of shape {tuple(a.shape)}) shares its memory with a tensor "
                f"that was written in place (with autograd recording) after this one was made, so its gradient "
                f"history is out of date; gpunet does not rebase views. Use the tensor that was written into, "
                f"write into the base tensor itself (t[i, j] = v rather than t[i][j] = v), or clone() before "
                f"writing")


def check_versions(fn) -> None:
    """Raise PyTorch's error when an array ``fn`` saved for backward belongs to a tensor written since."""
    versions = fn.versions
    overlaps = fn.backend.xp.may_share_memory
    for i, p in enumerate(fn.parents):
        vc = getattr(p, "_vc", None)
        if vc is None:
            continue
        expected = versions[i] if versions is not None else 0
        if vc[V] != expected and _saves(fn, lambda a: overlaps(a, p.data)):
            _modified(fn, p.dtype, p.shape, f"input {i}", vc[V], expected)
    vc = fn.out_vc
    if vc is not None and vc[V] != fn.out_v and _saves(fn, lambda a: id(_root(a)) == vc[ROOT]):
        _modified(fn, None, None, "its output", vc[V], fn.out_v)


def _saved_arrays(obj, depth=0):
    if hasattr(obj, "shape") and hasattr(obj, "dtype") and not hasattr(obj, "grad_fn"):
        yield obj
    elif depth < 3 and isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _saved_arrays(o, depth + 1)
    elif depth < 3 and isinstance(obj, dict):
        for o in obj.values():
            yield from _saved_arrays(o, depth + 1)


def _saves(fn, test) -> bool:
    """Whether ``fn`` keeps, for its backward, an array for which ``test`` holds."""
    return any(test(a) for a in _saved_arrays(fn.__dict__))


def _modified(fn, dtype, shape, which, now, expected):
    what = f"a {dtype} tensor of shape {tuple(shape)}, " if dtype is not None else ""
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"{what}{which} of {type(fn).__name__}, is at version {now}; expected version {expected} instead. Hint: "
        f"clone() the tensor before writing into it, or write out of place (y = x + 1 instead of x += 1 or "
        f"x.add_(1))")


def _check_writable(t, recorded: bool, op: str) -> None:
    if not recorded:
        return
    if t.grad_fn is None and t.requires_grad:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad is being written in place; do the write inside "
                           f"gn.no_grad() (as an optimizer does), or on .detach() / .clone()")
    if t._vc is not None and t._vc[LEAF]:
        raise RuntimeError(f"{op}: this tensor is a view of a leaf tensor that requires grad, and is being written "
                           f"in place; write inside gn.no_grad(), or clone() it first")


# ====================================================================== the writes
def _snapshot(t):
    """A stand-in for ``t`` as it is now (same array, counter and grad_fn): the input of a recorded write."""
    old = type(t)._make(t.data, t.requires_grad, t.grad_fn)
    old._vc, old._gv = t._vc, t._gv
    return old


def _rebind(t, fn) -> None:
    """``t`` is now the output of the recorded write ``fn``. Its earlier ``grad_fn`` is kept in ``t``'s history:
    functions that used ``t`` before the write still send their gradient there (see :func:`grad_fn_at`)."""
    prev = t.grad_fn
    t.__dict__.setdefault("_fn_history", []).append(prev)
    bump(t, True)
    vc = t._vc
    fn.out_vc, fn.out_v = vc, vc[V]
    if prev is not None and prev.retained is not None and prev.retained() is t:
        fn.retained, prev.retained = prev.retained, None
    t.grad_fn, t.requires_grad = fn, True


def grad_fn_at(t, seq: int):
    """``t``'s ``grad_fn`` as it was when the function numbered ``seq`` used ``t`` (the engine asks only when
    ``t.grad_fn`` is newer than that function: ``t`` was written in place after being used)."""
    for prev in reversed(t.__dict__.get("_fn_history", ())):
        if prev is None or prev.seq < seq:
            return prev
    return None


def _requires_grad(v) -> bool:
    return getattr(v, "requires_grad", False) is True


def setitem(t, index, value) -> None:
    """``t[index] = value``, recorded in the graph when ``t`` or ``value`` requires grad (outside no_grad)."""
    from ..functional.shape import SetItem, index_of

    index = index_of(t, index)
    recorded = STATE.enabled and (t.requires_grad or _requires_grad(value))
    _check_writable(t, recorded, "setitem")
    if not recorded:
        t.data[index] = value.data if hasattr(value, "grad_fn") else value
        bump(t, False)
        return
    counter(t)
    out = SetItem.apply(_snapshot(t), value, index=index)
    _rebind(t, out.grad_fn)


def apply_inplace(t, fn_cls, op: str, *others, **params):
    """``t ← fn_cls(t, *others)`` written into ``t``'s memory: the ``add_`` family and ``+=``.

    The result must keep ``t``'s shape, and its dtype must cast to ``t``'s (``same_kind``), as in PyTorch."""
    recorded = STATE.enabled and (t.requires_grad or any(_requires_grad(o) for o in others))
    _check_writable(t, recorded, op)
    if recorded:
        counter(t)
    src = _snapshot(t) if recorded else t
    out = fn_cls.apply(src, *others, **params)
    r = out.data
    if r.shape != t.data.shape:
        raise RuntimeError(f"{op}: the result has shape {tuple(r.shape)}, but the in-place output has shape "
                           f"{tuple(t.shape)}; broadcasting may not grow the tensor written into (write it out "
                           f"of place)")
    if r.dtype != t.data.dtype and not np.can_cast(r.dtype, t.data.dtype, casting="same_kind"):
        raise RuntimeError(f"{op}: result type {r.dtype} can't be cast to the desired output type {t.dtype}; "
                           f"cast first (t = t.to({r.dtype}) or compute out of place)")
    fn = out.grad_fn if recorded else None
    if fn is not None:  # arrays the op saved from t's memory would be overwritten: keep private copies
        overlaps = fn.backend.xp.may_share_memory
        for k, v in list(fn.__dict__.items()):
            if hasattr(v, "shape") and hasattr(v, "dtype") and overlaps(v, t.data):
                fn.__dict__[k] = v.copy()
    t.data[...] = r
    if fn is not None:
        _rebind(t, fn)
    else:
        bump(t, False)
    return t
