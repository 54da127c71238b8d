"""``backward_graph`` of the reductions, shape and indexing ops and matmul, with gpunet ops (so that they
differentiate again). Indexing backward is :class:`IndexBackward` (scatter ``g`` into zeros), whose own backward
is indexing again."""
from __future__ import annotations

import numpy as np

from ..functional import indexing as I
from ..functional import linalg as L
from ..functional import reduction as R
from ..functional import shape as S
from ..functional.math import cast, getitem, matmul, reshape, to_device, transpose
from ._graph_backward import const
from ._graph_backward import input_tensor as inp
from .function import Function


class IndexBackward(Function):
    """``out = zeros(shape); out[index] += g`` (repeated indices accumulated): the backward of ``a[index]``; its
    own backward is ``gg[index]``."""

    def forward(self, xp, g, shape=(), index=None):
        self.index = index
        out = xp.zeros(shape, dtype=g.dtype)
        parts = index if isinstance(index, tuple) else (index,)
        advanced = [p for p in parts if hasattr(p, "shape") or isinstance(p, list)]
        if advanced and not all(getattr(p, "dtype", None) == np.bool_ for p in advanced):
            self.backend.scatter_add(out, index, g)
        else:
            out[index] = g
        return out

    def backward(self, xp, gg):
        return (gg[self.index],)

    def backward_graph(self, gg):
        return (getitem(gg, self.index),)


def _expand_back(g, shape, axis, keepdims):
    """A reduced gradient broadcast back to the input's ``shape`` (an Expand view: its backward sums)."""
    if not keepdims:
        kept = (1,) * len(shape) if axis is None else tuple(1 if i in axis else d for i, d in enumerate(shape))
        if tuple(g.shape) != kept:
            g = reshape(g, kept)
    return S.Expand.apply(g, shape=tuple(shape))


def _sum(self, g):
    return (_expand_back(g, self.shape, self.axis, self.keepdims),)


def _mean(self, g):
    return (_expand_back(g / self.count, self.shape, self.axis, self.keepdims),)


def _all_extremum(self, g):
    a, axis = self.a, self.axis
    xp = self.backend.xp
    out_b = R._expand(xp, self.out, a.shape, axis, self.keepdims)
    mask = a == out_b
    w = mask / mask.sum(axis=axis, keepdims=True)
    return (_expand_back(g, a.shape, axis, self.keepdims) * const(self, w.astype(a.dtype)),)


def _select(self, g):
    xp = self.backend.xp
    shape = [1] * len(self.shape)
    shape[self.axis] = self.shape[self.axis]
    mask = xp.arange(self.shape[self.axis]).reshape(shape) == xp.expand_dims(self.idx, self.axis)
    return (_expand_back(g, self.shape, (self.axis,), self.keepdims) * const(self, mask.astype(g.dtype)),)


def _reshape(self, g):
    return (reshape(g, self.shape),)


def _transpose(self, g):
    if self.axes is None:
        return (transpose(g, None),)
    return (transpose(g, tuple(int(i) for i in np.argsort(self.axes))),)


def _expand(self, g):
    return (g,)


def _getitem(self, g):
    return (IndexBackward.apply(g, shape=self.shape, index=self.index),)


def _setitem(self, g):
    na, nv = self.needs_input_grad
    ga = gv = None
    if na:
        keep = self.backend.xp.ones(g.shape, dtype=g.dtype)
        keep[self.index] = 0
        ga = g * const(self, keep)
    if nv:
        gv = getitem(g, self.index)
    return ga, gv


def _concatenate(self, g):
    out, lo = [], 0
    for n, need in zip(self.sizes, self.needs_input_grad):
        out.append(getitem(g, (slice(None),) * self.axis + (slice(lo, lo + n),)) if need else None)
        lo += n
    return tuple(out)


def _stack(self, g):
    return tuple(getitem(g, (slice(None),) * self.axis + (i,)) if need else None
                 for i, need in enumerate(self.needs_input_grad))


def _to_device(self, g):
    return (to_device(g, self.source),)


def _cast(self, g):
    return (cast(g, self.src),)


def _clone(self, g):
    return (g,)


def _matmul(self, g):
    a, b = inp(self, 0, self.a), inp(self, 1, self.b)
    na, nb = self.needs_input_grad
    if a.ndim == 1 and b.ndim == 1:
        return (g * b if na else None), (g * a if nb else None)
    a2 = reshape(a, (1, -1)) if a.ndim == 1 else a
    b2 = reshape(b, (-1, 1)) if b.ndim == 1 else b
    if a.ndim == 1:
        g = g.unsqueeze(-2)
    if b.ndim == 1:
        g = g.unsqueeze(-1)
    ga = gb = None
    if na:
        ga = matmul(g, b2.transpose(-1, -2))
        if a.ndim == 1:
            ga = reshape(ga, ga.shape[:-2] + (ga.shape[-1],)) if ga.ndim > 2 else reshape(ga, (-1,))
    if nb:
        gb = matmul(a2.transpose(-1, -2), g)
        if b.ndim == 1:
            gb = reshape(gb, gb.shape[:-1]) if gb.ndim > 2 else reshape(gb, (-1,))
    return ga, gb


def _einsum(self, g):
    grads = []
    xp = self.backend.xp
    for i, need in enumerate(self.needs_input_grad):
        if not need:
            grads.append(None)
            continue
        others, subs, target, dedup, tshape, dshape, diag = self.plan(i)
        gi = L.Einsum.apply(g, *[inp(self, j, self.ops[j]) for j in others], inputs=subs, output=target)
        if target != dedup:
            gi = S.Expand.apply(reshape(gi, tshape), shape=dshape)
        if diag is not None:
            eyes, renamed, sizes = diag
            gi = L.Einsum.apply(gi, *[const(self, xp.eye(n, dtype=g.dtype)) for n in sizes],
                                inputs=(dedup,) + eyes, output=renamed)
        grads.append(gi)
    return tuple(grads)


def _gather(self, g):
    return IndexBackward.apply(g, shape=self.shape, index=self.mesh), None


def _index_select(self, g):
    return IndexBackward.apply(g, shape=self.shape, index=(slice(None),) * self.dim + (self.idx,)), None


def _masked_fill(self, g):
    na, _, nv = self.needs_input_grad
    from ..functional.math import where

    m = const(self, self.mask)
    ga = where(m, 0.0, g) if na else None
    gv = where(m, g, 0.0) if nv else None
    return ga, None, gv


_METHODS = {
    R.Sum: _sum, R.Mean: _mean, R._AllExtremum: _all_extremum, R._Select: _select, S.Reshape: _reshape,
    S.Transpose: _transpose, S.Expand: _expand, S.GetItem: _getitem, S.SetItem: _setitem,
    S.Concatenate: _concatenate, S.Stack: _stack, S.ToDevice: _to_device, S.Cast: _cast, S.Clone: _clone,
    L.MatMul: _matmul, L.Einsum: _einsum, I.Gather: _gather, I.IndexSelect: _index_select, I.MaskedFill: _masked_fill,
}
for _cls, _m in _METHODS.items():
    _cls.backward_graph = _m
