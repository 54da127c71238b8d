"""The backward pass: the graph's functions in reverse creation order, each once its gradient is complete."""
from __future__ import annotations

from heapq import heappop, heappush

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


def run_backward(root, grad, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (an array shaped like ``root``) from ``root`` back to every leaf that requires grad.

    Functions run in decreasing creation order (``Function.seq``), taken from a heap as they are reached: a
    function is created after every function whose output it consumes, so when it is popped, every function that
    feeds it a gradient has run (no separate topological sort, and only reachable functions are visited)."""
    root_fn = root.grad_fn
    if root_fn is None:
        _accumulate_leaf(root, grad, owned=False)
        return
    grads = {root_fn: grad}
    heap = [(-root_fn.seq, root_fn)]
    handed = set()  # ids of fresh arrays now held as some leaf's .grad: never hand one to a second leaf
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
                owned = g is not g_out and g.base is None and id(g) not in handed
                if owned:
                    handed.add(id(g))
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


def _accumulate_leaf(t, g, owned: bool) -> None:
    dtype = t.data.dtype
    if g.dtype != dtype:
        g = g.astype(dtype)
        owned = True
    if t.grad is None:
        t.grad = _tensor_cls()._make(g if owned else g.copy(), False, None)
    else:
        t.grad.data += g
