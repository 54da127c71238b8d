"""Torch-style custom Functions: ``class MyFn(gn.autograd.Function)`` with ``@staticmethod forward(ctx, ...)``
and ``@staticmethod backward(ctx, *grads)``, called as ``MyFn.apply(...)``, as ``torch.autograd.Function``.

A subclass whose ``forward`` is a staticmethod gets this module's ``apply`` (see ``Function.__init_subclass__``);
gpunet's own form (``forward(self, xp, *arrays)`` / ``backward(self, xp, g)`` on raw arrays) is unchanged. Here
``forward`` receives the Tensors themselves and runs under ``no_grad``; ``backward`` receives one gradient
Tensor per output and returns one per input (None for inputs that need none), and runs under ``no_grad`` too,
unless the pass has ``create_graph=True``: then it is recorded, so a backward written with gpunet ops
differentiates again. ``ctx`` has ``save_for_backward``/``saved_tensors`` (a saved tensor written in place
since raises, as torch), ``needs_input_grad``, ``mark_non_differentiable``, ``set_materialize_grads`` and any
attribute you set. Several outputs (a tuple) are supported; ``mark_dirty`` (in-place forward) is not.
"""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from . import inplace as _inplace
from .function import _SEQ, Function, _tensor_cls, _version
from .grad_mode import STATE, enable_grad, no_grad


class FunctionCtx:
    """The ``ctx`` of a torch-style Function: what forward hands to backward."""

    def __init__(self, needs):
        self.needs_input_grad = needs
        self.materialize_grads = True
        self._saved = ()
        self._non_diff = set()

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors (or None) for backward; reading ``saved_tensors`` after one of them was written in place
        raises, as torch."""
        Tensor = _tensor_cls()
        saved = []
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument is of type "
                                f"{type(t).__name__} (keep other values as ctx attributes: ctx.alpha = alpha)")
            saved.append(None if t is None else (t, _inplace.counter(t), _inplace.version(t)))
        self._saved = tuple(saved)

    @property
    def saved_tensors(self) -> tuple:
        out = []
        for i, s in enumerate(self._saved):
            if s is None:
                out.append(None)
                continue
            t, vc, v = s
            if vc[_inplace.V] != v:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: a {t.dtype} tensor of shape {tuple(t.shape)} (saved tensor {i}) is at version "
                    f"{vc[_inplace.V]}; expected version {v} instead. Hint: clone() it before writing into it, or "
                    f"write out of place")
            out.append(t)
        return tuple(out)

    def mark_non_differentiable(self, *tensors) -> None:
        """These outputs get no gradient (their gradient in backward is a zero tensor)."""
        self._non_diff.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward gets None (not zeros) for the outputs no gradient reached (several outputs)."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError("ctx.mark_dirty (a forward that writes its input in place) is not supported; "
                                  "return a new tensor (out = x.clone(); write into out)")


class _Node(Function):
    """The graph node of one torch-style Function call."""

    def _grads_for_user(self, g, graph: bool):
        Tensor = _tensor_cls()
        if self.packed is None:
            return (g if graph else Tensor._make(g, False, None),)
        xp = self.backend.xp
        out = []
        for i, (shape, dtype, lo, hi) in enumerate(self.layout):
            if lo is None:  # a non-differentiable output: zeros
                out.append(Tensor._make(xp.zeros(shape, dtype=dtype), False, None))
            elif i not in self.got and not self.ctx.materialize_grads:
                out.append(None)
            elif graph:
                out.append(g[lo:hi].reshape(shape))
            else:
                out.append(Tensor._make(g[lo:hi].reshape(shape).astype(dtype, copy=False), False, None))
        return tuple(out)

    def _call_user(self, g, graph: bool):
        grads = self._grads_for_user(g, graph)
        self.got = set()
        with enable_grad() if graph else no_grad():
            res = self.user.backward(self.ctx, *grads)
        if not isinstance(res, tuple):
            res = (res,)
        n = len(self.parents)
        name = self.user.__name__
        if len(res) < n or any(r is not None for r in res[n:]):
            raise RuntimeError(f"function {name}Backward returned an incorrect number of gradients (expected {n}, "
                               f"got {len(res)}): one per argument of forward, None for those without")
        Tensor = _tensor_cls()
        out = []
        for i, (r, p, need) in enumerate(zip(res, self.parents, self.needs_input_grad)):
            if r is None or not need:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                raise TypeError(f"function {name}Backward returned a {type(r).__name__} as gradient {i}; expected "
                                f"a Tensor or None")
            if tuple(r.shape) != tuple(p.shape):
                try:
                    ok = np.broadcast_shapes(tuple(p.shape), tuple(r.shape)) == tuple(p.shape)
                except ValueError:
                    ok = False
                if not ok:
                    raise RuntimeError(f"function {name}Backward returned an invalid gradient at index {i} - got "
                                       f"{list(r.shape)} but expected shape compatible with {list(p.shape)}")
            out.append(r if graph else r.data)
        return tuple(out)

    def backward(self, xp, g):
        return self._call_user(g, False)

    def backward_graph(self, g):
        return self._call_user(g, True)

    def __repr__(self) -> str:
        user = self.__dict__.get("user")
        return f"<{user.__name__}Backward>" if user is not None else "<CustomFunctionBackward>"


class _Output(Function):
    """Output ``i`` of a torch-style Function with several outputs: a slice of the node's packed output."""

    def forward(self, xp, packed, lo=0, hi=0, shape=(), dtype=None, i=0, node=None):
        self.lo, self.hi, self.size, self.i, self.node = lo, hi, packed.shape[0], i, node
        return packed[lo:hi].reshape(shape).astype(dtype, copy=False)

    def backward(self, xp, g):
        self.node.got.add(self.i)
        out = xp.zeros((self.size,), dtype=self.node.packed_dtype)
        out[self.lo:self.hi] = g.reshape(-1)
        return (out,)

    def backward_graph(self, g):
        from ._graph_backward_shape import IndexBackward

        self.node.got.add(self.i)
        return (IndexBackward.apply(g.reshape(-1), shape=(self.size,), index=slice(self.lo, self.hi)),)


def _new_node(user, ctx, args, needs):
    Tensor = _tensor_cls()
    node = _Node.__new__(_Node)
    arrays = [a.data if isinstance(a, Tensor) else a for a in args]
    node.backend = _backend.backend_of([a for a in arrays if hasattr(a, "shape")], user.__name__)
    node.needs_input_grad = needs
    node.parents = args
    node.released = False
    node.retained = None
    node.seq = next(_SEQ)
    tracked = any(getattr(a, "_vc", None) is not None for a in args)
    node.versions = tuple(_version(a) for a in args) if tracked else None
    node.writes = STATE.writes
    node.out_vc = None
    node.user, node.ctx, node.packed, node.got = user, ctx, None, set()
    return node


def _attach(t, node, args):
    """``t`` (a forward output) as the node's output: the same object (so that a saved output is the output),
    unless forward returned an input unchanged."""
    Tensor = _tensor_cls()
    if any(t is a for a in args):
        t = Tensor._make(t.data, True, node)
    else:
        t.grad_fn, t.requires_grad = node, True
    return t


def apply(cls, *args, **kwargs):
    """Run ``cls.forward(ctx, *args)`` under no_grad and record one graph node for it."""
    Tensor = _tensor_cls()
    needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
    ctx = FunctionCtx(needs)
    with no_grad():
        if getattr(cls, "setup_context", None) is not None:  # forward(*args) + setup_context(ctx, inputs, out)
            out = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, out)
        else:
            out = cls.forward(ctx, *args, **kwargs)
    if not (STATE.enabled and True in needs):
        return out
    if any(isinstance(a, Tensor) and a._vc is not None for a in args):
        _inplace.check_current(args, cls.__name__)
    node = _new_node(cls, ctx, args, needs)
    if isinstance(out, Tensor):
        if id(out) in ctx._non_diff or out.dtype.kind not in "fc":
            return out
        return _attach(out, node, args)
    if not isinstance(out, tuple):
        raise TypeError(f"{cls.__name__}.forward must return a Tensor or a tuple of Tensors, got "
                        f"{type(out).__name__}")
    xp = node.backend.xp
    layout, parts, lo = [], [], 0
    diff = [isinstance(o, Tensor) and o.dtype.kind in "fc" and id(o) not in ctx._non_diff for o in out]
    dtypes = [o.dtype for o, d in zip(out, diff) if d]
    if not dtypes:
        return out
    packed_dtype = xp.result_type(*dtypes)
    for o, d in zip(out, diff):
        if not isinstance(o, Tensor):
            layout.append(((), None, None, None))
            continue
        if d:
            parts.append(o.data.reshape(-1).astype(packed_dtype, copy=False))
            layout.append((o.shape, o.dtype, lo, lo + o.data.size))
            lo += o.data.size
        else:
            layout.append((o.shape, o.dtype, None, None))
    node.packed, node.layout, node.packed_dtype = True, layout, packed_dtype
    packed = Tensor._make(xp.concatenate(parts) if parts else xp.zeros((0,), packed_dtype), True, node)
    result = []
    for i, (o, d) in enumerate(zip(out, diff)):
        if not d:
            result.append(o)
            continue
        shape, dtype, a, b = layout[i]
        sel = _Output.apply(packed, lo=a, hi=b, shape=shape, dtype=dtype, i=i, node=node)
        result.append(_attach(o, sel.grad_fn, args))
    return tuple(result)
