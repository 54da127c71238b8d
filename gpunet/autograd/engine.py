"""The backward pass: the graph's functions in reverse creation order, each once its gradient is complete."""
from __future__ import annotations

from heapq import heappop, heappush

from . import hooks as _hooks
from .function import _tensor_cls
from .grad_mode import STATE
from .inplace import check_versions, grad_fn_at


def sum_to(xp, g, shape):
    """Sum ``g`` down to ``shape`` (undoes NumPy broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


def run_backward(root, grad, retain_graph: bool = False, inputs=None) -> None:
    """Propagate ``grad`` (an array shaped like ``root``) from ``root`` back to every leaf that requires grad
    (only into ``inputs``, a tuple of tensors, when given).

    Functions run in decreasing creation order (``Function.seq``), taken from a heap as they are reached: a
    function is created after every function whose output it consumes, so when it is popped, every function that
    feeds it a gradient has run (no separate topological sort, and only reachable functions are visited).
    With a hook registered anywhere, or ``inputs``, :func:`_run_backward_general` runs instead: this loop has no
    test for them."""
    if _hooks.HOOKS or _hooks.POST_ACC or inputs is not None:
        _run_backward_general(root, grad, retain_graph, inputs)
        return
    root_fn = root.grad_fn
    if root_fn is None:
        _accumulate_leaf(root, grad, owned=False)
        return
    grads = {root_fn: grad}
    heap = [(-root_fn.seq, root_fn)]
    handed = set()  # ids of the memory now held as some leaf's .grad: never hand it to a second leaf
    while heap:
        fn = heappop(heap)[1]
        if fn.released:
            raise RuntimeError(
                "backward through a part of the graph that was already freed: the graph's buffers are released "
                "after backward() unless you call backward(retain_graph=True) the first time")
        if fn.writes != STATE.writes:  # something was written in place since fn ran: did it save that?
            check_versions(fn)
        g_out = grads.pop(fn)
        if fn.retained is not None:
            t = fn.retained()
            if t is not None:
                _accumulate_leaf(t, g_out, owned=False)
        xp = fn.backend.xp
        in_grads = fn.backward(xp, g_out)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        for p, need, g in zip(fn.parents, fn.needs_input_grad, in_grads):
            if not need or g is None:
                continue
            shape = p.data.shape
            if g.shape != shape:
                g = sum_to(xp, g, shape)
            child = p.grad_fn
            if child is not None and child.seq > fn.seq:  # p was written in place after fn used it
                child = grad_fn_at(p, fn.seq)
            if child is None:  # a leaf
                owned = _adopt(g, g_out, handed)
                _accumulate_leaf(p, g, owned)
            else:
                prev = grads.get(child)
                if prev is None:
                    grads[child] = g
                    heappush(heap, (-child.seq, child))
                else:
                    grads[child] = prev + g
        if not retain_graph:
            fn._release()


def _child(p, fn):
    """The function that made ``p`` as ``fn`` used it (None for a leaf)."""
    child = p.grad_fn
    if child is not None and child.seq > fn.seq:  # p was written in place after fn used it
        child = grad_fn_at(p, fn.seq)
    return child


def _needed(root_fn, leaf_ids, capture) -> set:
    """The functions whose backward leads to one of the inputs (leaves by id, non-leaves by grad_fn)."""
    seen = {root_fn}
    stack = [root_fn]
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
    order.sort(key=lambda f: f.seq)  # children before the functions that use them
    needed = set()
    for fn in order:
        for p, need in zip(fn.parents, fn.needs_input_grad):
            if need:
                c = _child(p, fn)
                if (id(p) in leaf_ids) if c is None else (c in needed or c in capture):
                    needed.add(fn)
                    break
    return needed


def _post_counts(root_fn) -> dict:
    """id(leaf) -> [edges into it from the functions reachable from ``root_fn``, the leaf] for the leaves with
    post-accumulate hooks: a leaf's hooks run when its count reaches 0."""
    counts: dict = {}
    seen = {root_fn}
    stack = [root_fn]
    post = _hooks.POST_ACC
    while stack:
        fn = stack.pop()
        for p, need in zip(fn.parents, fn.needs_input_grad):
            if need:
                c = _child(p, fn)
                if c is None:
                    if id(p) in post:
                        e = counts.get(id(p))
                        if e is None:
                            counts[id(p)] = [1, p, False]
                        else:
                            e[0] += 1
                elif c not in seen:
                    seen.add(c)
                    stack.append(c)
    return counts


def _post_arrived(post, p, last: bool = False) -> None:
    """One gradient of ``p`` was accumulated: run its post-accumulate hooks when it was the last one."""
    e = post.get(id(p))
    if e is None:
        return
    e[0] -= 1
    e[2] = True
    if e[0] <= 0 or last:
        del post[id(p)]
        hk = _hooks.hooks_of(p, _hooks.POST_ACC)
        for h in hk or ():
            h(p)


def _run_backward_general(root, grad, retain_graph, inputs) -> None:
    """:func:`_general_pass`, then the callbacks queued during it (:func:`hooks.queue_callback`)."""
    outer = _hooks.CALLBACKS
    _hooks.CALLBACKS = queued = []
    try:
        _general_pass(root, grad, retain_graph, inputs)
    finally:
        _hooks.CALLBACKS = outer
    i = 0
    while i < len(queued):  # a callback may queue another
        queued[i]()
        i += 1


def _general_pass(root, grad, retain_graph, inputs) -> None:
    """:func:`run_backward` with tensor hooks and ``inputs``, as torch: a non-leaf's hooks run on its complete
    gradient before it flows on (before ``retain_grad``'s ``.grad``); a leaf's hooks run once on its summed
    gradient before it is accumulated into ``.grad`` (here: after the graph has run, where torch runs them as
    soon as that leaf's gradient is complete). With ``inputs``, only they get ``.grad`` and only the functions
    leading to them run. A leaf's post-accumulate hooks run once its last gradient of the pass is in ``.grad``
    (a leaf with tensor hooks: at the end)."""
    leaf_ids = capture = needed = None
    if inputs is not None:
        leaf_ids = {id(t) for t in inputs if t.grad_fn is None}
        capture = {t.grad_fn: t for t in inputs if t.grad_fn is not None}
    root_fn = root.grad_fn
    if root_fn is None:
        if leaf_ids is None or id(root) in leaf_ids:
            hk = _hooks.hooks_of(root)
            _accumulate_leaf(root, grad if hk is None else _hooks.call(hk, grad), owned=False)
            if _hooks.POST_ACC:
                _post_arrived({id(root): [1, root, False]}, root)
        return
    if inputs is not None:
        needed = _needed(root_fn, leaf_ids, capture)
        if root_fn not in needed and root_fn not in capture:
            return
    post = _post_counts(root_fn) if _hooks.POST_ACC else None
    grads = {root_fn: grad}
    heap = [(-root_fn.seq, root_fn)]
    handed = set()
    pending = {}  # id(leaf) -> [leaf, summed grad]: leaves with hooks, accumulated at the end
    while heap:
        fn = heappop(heap)[1]
        if fn.released:
            raise RuntimeError(
                "backward through a part of the graph that was already freed: the graph's buffers are released "
                "after backward() unless you call backward(retain_graph=True) the first time")
        if fn.writes != STATE.writes:
            check_versions(fn)
        g_out = grads.pop(fn)
        hk = _hooks.hooks_of(fn)
        if hk is not None:
            g_out = _hooks.call(hk, g_out)
        if capture is not None and fn in capture:
            _accumulate_leaf(capture[fn], g_out, owned=False)
        if fn.retained is not None:
            t = fn.retained()
            if t is not None:
                _accumulate_leaf(t, g_out, owned=False)
        if needed is not None and fn not in needed:
            if not retain_graph:
                fn._release()
            continue
        xp = fn.backend.xp
        in_grads = fn.backward(xp, g_out)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        for p, need, g in zip(fn.parents, fn.needs_input_grad, in_grads):
            if not need or g is None:
                continue
            shape = p.data.shape
            if g.shape != shape:
                g = sum_to(xp, g, shape)
            child = _child(p, fn)
            if child is None:
                if leaf_ids is not None and id(p) not in leaf_ids:
                    continue
                if id(p) in _hooks.HOOKS and _hooks.hooks_of(p) is not None:
                    prev = pending.get(id(p))
                    if prev is None:
                        pending[id(p)] = [p, g]
                    else:
                        prev[1] = prev[1] + g
                    continue
                owned = _adopt(g, g_out, handed)
                _accumulate_leaf(p, g, owned)
                if post:
                    _post_arrived(post, p)
            else:
                if needed is not None and child not in needed and child not in capture:
                    continue
                prev = grads.get(child)
                if prev is None:
                    grads[child] = g
                    heappush(heap, (-child.seq, child))
                else:
                    grads[child] = prev + g
        if not retain_graph:
            fn._release()
    for p, g in pending.values():
        hk = _hooks.hooks_of(p)
        _accumulate_leaf(p, g if hk is None else _hooks.call(hk, g), owned=False)
        if post:
            _post_arrived(post, p, last=True)
    if post:  # leaves whose count was not reached: a backward returned None for them, or only some ran
        for _, p, arrived in list(post.values()):
            if arrived:
                _post_arrived(post, p, last=True)


def _root(a):
    """The array that owns ``a``'s memory (``a`` itself when it is not a view)."""
    b = getattr(a, "base", None)
    while b is not None:
        a, b = b, getattr(b, "base", None)
    return a


def _adopt(g, g_out, handed) -> bool:
    """Whether the gradient ``g`` a backward returned for a leaf may become the leaf's ``.grad`` without a copy
    (recording its memory in ``handed`` if so).

    The engine must copy a gradient whose memory someone else can see or write: ``g_out`` itself or a view of
    its memory (``g_out`` may be the caller's gradient argument, a gradient that also flows to other inputs, or
    what a hook keeps), memory already handed to another leaf (whose ``.grad`` is accumulated into in place),
    and a view that does not cover its base once (a broadcast or a slice: read-only or overlapping, or keeping
    more memory alive than the gradient needs). A backward's fresh array, or a reshape or transpose of one that
    covers all its memory, is the engine's alone (backward returns ``grad_out`` or fresh arrays, never the same
    memory for two inputs)."""
    if g is g_out:
        return False
    if g.base is None:  # a fresh array: the common case, kept cheap
        if id(g) in handed or (g_out.base is not None and g is _root(g_out)):
            return False
        handed.add(id(g))
        return True
    r = _root(g)
    if r is not g and (type(r) is not type(g) or r.nbytes != g.nbytes
                       or not (g.flags.c_contiguous or g.flags.f_contiguous)
                       or not getattr(g.flags, "writeable", True)):
        return False
    if id(r) in handed or r is _root(g_out):
        return False
    handed.add(id(r))
    return True


def _accumulate_leaf(t, g, owned: bool) -> None:
    dtype = t.data.dtype
    if g.dtype != dtype:
        g = g.astype(dtype)
        owned = True
    if t.grad is None:
        t.grad = _tensor_cls()._make(g if owned else g.copy(), False, None)
    else:
        t.grad.data += g
