"""Dimension arguments checked once, in one place, as PyTorch checks them.

A dim in ``[-ndim, ndim - 1]`` counts from the end when negative; anything else is an ``IndexError`` that names
the op, the dim and the valid range (never wrapped modulo ndim). A 0-d tensor accepts dims 0 and -1, as PyTorch.
"""
from __future__ import annotations

import operator


def _as_int(dim, op: str):
    try:
        return operator.index(dim)
    except TypeError:
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__} ({dim!r})") from None


def canonical_dim(dim, ndim: int, op: str, extra: int = 0) -> int:
    """``dim`` as an axis in ``[0, ndim + extra)``; ``extra`` is 1 for ops that insert an axis (unsqueeze,
    stack). For a 0-d input (``ndim + extra == 0``) dims 0 and -1 give 0."""
    d = _as_int(dim, op)
    n = ndim + extra
    span = n if n else 1
    if not -span <= d < span:
        raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimension(s); expected a dim in "
                         f"[{-span}, {span - 1}]")
    return d + n if d < 0 else d


def canonical_dims(dims, ndim: int, op: str):
    """``None`` (all dims) or a sorted tuple of distinct axes from an int or a sequence of ints.

    For a 0-d input every valid dim names the one element, so the result is ``()`` (nothing to reduce over)."""
    if dims is None:
        return None
    if isinstance(dims, (tuple, list)):
        out = [canonical_dim(d, ndim, op) for d in dims]
    else:
        out = [canonical_dim(dims, ndim, op)]
    if not ndim:
        return ()
    seen = set()
    for d in out:
        if d in seen:
            raise RuntimeError(f"{op}: dim {d} appears more than once in dims {tuple(dims)}")
        seen.add(d)
    return tuple(sorted(out))
