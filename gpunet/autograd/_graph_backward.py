"""Backward passes beyond ``Tensor.backward()``'s fast loop: :func:`grad` (gradients returned, no ``.grad``
touched) and ``create_graph=True`` (the backward pass itself recorded, for higher-order derivatives).

With ``create_graph`` the gradients flowing through the graph are Tensors, and each Function runs its
``backward_graph(self, g) -> tuple`` instead of ``backward(xp, g)``: the same vector-Jacobian product written with
gpunet ops on the ORIGINAL input Tensors (``input_tensor(fn, i)``), so that its own graph is recorded and
differentiates in the inputs too (for ``a * b``: ``grad_a = g * b`` with ``b`` the input Tensor). Composite ops
(the fused linear layers, the losses) differentiate their forward written with elementary ops
(:func:`through_composite`). The methods live in ``_graph_backward_*.py`` by family and are attached to the
Function classes on the first ``create_graph`` call; an op without one raises "double backward is not
implemented for <Op>". The fast path (``create_graph=False``, no ``inputs``, no hooks) never comes here.
"""
from __future__ import annotations

from heapq import heappop, heappush

from . import hooks as _hooks
from .engine import _accumulate_leaf, _child, sum_to
from .function import _SEQ, _tensor_cls
from .grad_mode import STATE
from .inplace import GRAPH, V, check_versions

_ATTACHED = False


def _attach() -> None:
    """Attach the ``backward_graph`` methods to the Function classes (once, on the first create_graph call)."""
    global _ATTACHED
    if not _ATTACHED:
        from . import (  # noqa: F401
            _graph_backward_elementwise,
            _graph_backward_layers,
            _graph_backward_more,
            _graph_backward_nn,
            _graph_backward_seq,
            _graph_backward_shape,
        )

        _ATTACHED = True


# ====================================================================== helpers for backward_graph methods
def input_tensor(fn, i: int, saved=None):
    """Input ``i`` of ``fn`` as a Tensor connected to the graph (a number stays a number).

    It is the input Tensor itself, unless that tensor was written in place since ``fn`` used it: then a Tensor
    with the values ``fn`` saved (``saved``, else the current data) and the ``grad_fn`` the input had then."""
    p = fn.parents[i]
    if not hasattr(p, "grad_fn"):
        return p
    vc = p._vc
    if vc is None:
        return p
    child = _child(p, fn)
    expected = fn.versions[i] if fn.versions is not None else 0
    if p._gv == vc[GRAPH] and vc[V] == expected and p.grad_fn is child:
        return p
    if child is None and p.requires_grad:
        return p  # a leaf: it keeps its identity (its gradient is accumulated by id)
    return _tensor_cls()._make(saved if saved is not None else p.data, child is not None, child)


def const(fn, a):
    """A raw array (a mask, a saved constant) as a Tensor outside the graph."""
    return _tensor_cls()._make(a, False, None)


def sum_to_t(g, shape):
    """:func:`engine.sum_to` with gpunet ops (differentiable)."""
    from ..functional.math import reshape
    from ..functional.math import sum as _sum

    if tuple(g.shape) == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = _sum(g, axis=axes, keepdims=True)
    if lead or tuple(g.shape) != tuple(shape):
        g = reshape(g, tuple(shape))
    return g


def not_implemented(fn):
    raise RuntimeError(
        f"double backward is not implemented for {type(fn).__name__}: create_graph=True needs a differentiable "
        f"backward (Function.backward_graph), which this op does not have yet. Ops that have one: arithmetic, "
        f"elementary functions, reductions, shape and indexing ops, matmul, einsum, linear (and fused "
        f"Sequential runs), the activations, softmax/log_softmax, dropout, pad, the pointwise and "
        f"classification losses, torch-style custom Functions, convolutions, pooling, interpolate, the "
        f"batch/layer/RMS/group/instance norms, attention, embeddings and the recurrent layers. Write this "
        f"part with those, or detach() its "
        f"input if no gradient of a gradient must flow through it")


def _call(fn, g):
    bg = getattr(fn, "backward_graph", None)
    if bg is None:
        not_implemented(fn)
    out = bg(g)
    return out if type(out) is tuple else (out,)


def through_composite(fn, g, build):
    """``backward_graph`` of ``fn`` by differentiating ``build(*inputs)`` (``fn``'s forward written with gpunet
    ops that have a ``backward_graph``) at ``g``; the result is recorded, so it differentiates again."""
    from .grad_mode import enable_grad

    Tensor = _tensor_cls()
    start = next(_SEQ)  # every Function the rebuild makes comes after this
    ins = []
    for i, (p, need) in enumerate(zip(fn.parents, fn.needs_input_grad)):
        if need:
            ins.append(input_tensor(fn, i))
        else:
            ins.append(Tensor._make(p.data, False, None) if hasattr(p, "grad_fn") else p)
    with enable_grad():
        out = build(*ins)
    keys = [(id(t) if t.grad_fn is None else t.grad_fn) if need else None
            for t, need in zip(ins, fn.needs_input_grad)]
    acc = {}
    root = out.grad_fn
    if root is None or root.seq < start:
        acc[id(out) if root is None else root] = g
    else:
        grads, heap = {root: g}, [(-root.seq, root)]
        while heap:
            f = heappop(heap)[1]
            gi = grads.pop(f)
            for p, need, gp in zip(f.parents, f.needs_input_grad, _call(f, gi)):
                if not need or gp is None:
                    continue
                if tuple(gp.shape) != tuple(p.data.shape):
                    gp = sum_to_t(gp, p.data.shape)
                child = _child(p, f)
                if child is None or child.seq < start:
                    key = id(p) if child is None else child
                    acc[key] = acc[key] + gp if key in acc else gp
                else:
                    prev = grads.get(child)
                    if prev is None:
                        grads[child] = gp
                        heappush(heap, (-child.seq, child))
                    else:
                        grads[child] = prev + gp
    out_grads, seen = [], set()
    for k in keys:
        if k is None or k in seen or (k not in acc):
            out_grads.append(None)
        else:
            seen.add(k)
            out_grads.append(acc[k])
    return tuple(out_grads)


# ====================================================================== the general backward pass
def _needed(root_fns, leaf_ids, capture) -> set:
    """The functions whose backward leads to one of the inputs (as engine._needed, from several roots)."""
    seen = set(root_fns)
    stack = list(seen)
    order = []
    while stack:
        fn = stack.pop()
        order.append(fn)
        for p, need in zip(fn.parents, fn.needs_input_grad):
            if need:
                c = _child(p, fn)
                if c is not None and c not in seen:
                    seen.add(c)
                    stack.append(c)
    order.sort(key=lambda f: f.seq)
    needed = set()
    for fn in order:
        for p, need in zip(fn.parents, fn.needs_input_grad):
            if need:
                c = _child(p, fn)
                if (id(p) in leaf_ids) if c is None else (c in needed or c in capture):
                    needed.add(fn)
                    break
    return needed


def _hooks_on(hk, g, graph: bool):
    if not graph:
        return _hooks.call(hk, g)
    Tensor = _tensor_cls()
    for h in hk:
        r = h(g)
        if r is None:
            continue
        name = getattr(h, "__name__", repr(h))
        if not isinstance(r, Tensor):
            raise TypeError(f"expected Tensor, but hook '{name}' returned '{type(r).__name__}' (a hook returns None "
                            f"or a Tensor to use as the gradient)")
        if tuple(r.shape) != tuple(g.shape):
            raise RuntimeError(f"hook '{name}' has changed the size of value (was {tuple(g.shape)}, got "
                               f"{tuple(r.shape)})")
        g = r
    return g


def run(roots, grads, *, inputs=None, accumulate: bool, create_graph: bool, retain_graph: bool):
    """Backpropagate ``grads`` (arrays, or Tensors with ``create_graph``) from ``roots``.

    ``accumulate``: into the leaves' ``.grad`` (``Tensor.backward``; only into ``inputs`` when given), then
    each such leaf's post-accumulate hooks; otherwise nothing is written and ``{id(input): gradient}`` is
    returned for ``inputs`` (:func:`grad`). Callbacks queued during the pass (``hooks.queue_callback``) run
    after it."""
    has_queue = hasattr(_hooks, "CALLBACKS")
    if has_queue:
        outer = _hooks.CALLBACKS
        _hooks.CALLBACKS = queued = []
    try:
        results = _pass(roots, grads, inputs, accumulate, create_graph, retain_graph)
    finally:
        if has_queue:
            _hooks.CALLBACKS = outer
    if has_queue:
        i = 0
        while i < len(queued):
            queued[i]()
            i += 1
    return results


def _pass(roots, grads, inputs, accumulate, create_graph, retain_graph):
    graph = create_graph
    if graph:
        _attach()
    Tensor = _tensor_cls()
    leaf_ids = capture = needed = None
    if inputs is not None:
        leaf_ids = {id(t) for t in inputs if t.grad_fn is None}
        capture = {t.grad_fn: t for t in inputs if t.grad_fn is not None}
    results = {}
    pending = {}  # id(leaf) -> [leaf, summed gradient]: hooks, then delivered at the end

    def deliver(t, g):
        if not accumulate:
            prev = results.get(id(t))
            results[id(t)] = g if prev is None else prev + g
        elif graph:
            if g.dtype != t.dtype:
                from ..functional.math import cast

                g = cast(g, t.dtype)
            if not g.requires_grad:
                g = Tensor._make(g.data.copy(), False, None)
            t.grad = g if t.grad is None else t.grad + g
        else:
            _accumulate_leaf(t, g, owned=False)

    def to_leaf(p, g):
        prev = pending.get(id(p))
        if prev is None:
            pending[id(p)] = [p, g]
        else:
            prev[1] = prev[1] + g

    grads_of, heap = {}, []
    for root, g in zip(roots, grads):
        fn = root.grad_fn
        if fn is None:
            if leaf_ids is None or id(root) in leaf_ids:
                to_leaf(root, g)
            continue
        if fn in grads_of:
            grads_of[fn] = grads_of[fn] + g
        else:
            grads_of[fn] = g
            heappush(heap, (-fn.seq, fn))
    if inputs is not None and heap:
        needed = _needed(list(grads_of), leaf_ids, capture)
    prev_mode = STATE.enabled
    STATE.enabled = graph
    try:
        while heap:
            fn = heappop(heap)[1]
            if fn.released:
                raise RuntimeError(
                    "backward through a part of the graph that was already freed: the graph's buffers are released "
                    "after backward() unless you call backward(retain_graph=True) the first time (or "
                    "grad(..., retain_graph=True))")
            if fn.writes != STATE.writes:
                check_versions(fn)
            g_out = grads_of.pop(fn)
            if _hooks.HOOKS:
                hk = _hooks.hooks_of(fn)
                if hk is not None:
                    g_out = _hooks_on(hk, g_out, graph)
            if capture is not None and fn in capture:
                deliver(capture[fn], g_out)
            if accumulate and fn.retained is not None:
                t = fn.retained()
                if t is not None:
                    deliver(t, g_out)
            if needed is not None and fn not in needed:
                if not retain_graph:
                    fn._release()
                continue
            if graph:
                in_grads = _call(fn, g_out)
            else:
                in_grads = fn.backward(fn.backend.xp, g_out)
                if type(in_grads) is not tuple:
                    in_grads = (in_grads,)
            xp = fn.backend.xp
            for p, need, g in zip(fn.parents, fn.needs_input_grad, in_grads):
                if not need or g is None:
                    continue
                shape = p.data.shape
                if g.shape != shape:
                    g = sum_to_t(g, shape) if graph else sum_to(xp, g, shape)
                child = _child(p, fn)
                if child is None:
                    if leaf_ids is None or id(p) in leaf_ids:
                        to_leaf(p, g)
                    continue
                if needed is not None and child not in needed and child not in capture:
                    continue
                prev = grads_of.get(child)
                if prev is None:
                    grads_of[child] = g
                    heappush(heap, (-child.seq, child))
                else:
                    grads_of[child] = prev + g
            if not retain_graph:
                fn._release()
        for p, g in pending.values():
            hk = _hooks.hooks_of(p) if _hooks.HOOKS else None
            deliver(p, g if hk is None else _hooks_on(hk, g, graph))
    finally:
        STATE.enabled = prev_mode
    post = getattr(_hooks, "POST_ACC", None)
    if accumulate and post:
        for p, _ in pending.values():
            for h in (_hooks.hooks_of(p, post) if id(p) in post else None) or ():
                h(p)
    return results
