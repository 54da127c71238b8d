"""The backward pass: an iterative walk of the graph in reverse topological order."""
from __future__ import annotations

from .function import _tensor_cls


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


def _topological(root_fn):
    """Functions reachable from ``root_fn``, each after every function that consumes its output (iterative DFS).
    Functions hash by identity, so they key the sets and dicts here directly."""
    Tensor = _tensor_cls()
    order = []
    seen = {root_fn}
    stack = [(root_fn, iter(root_fn.parents))]
    while stack:
        fn, it = stack[-1]
        for p in it:
            # parents also hold raw arrays and None: isinstance, not getattr(p, "grad_fn", None), whose misses
            # build and drop an AttributeError each
            child = p.grad_fn if isinstance(p, Tensor) else None
            if child is not None and child not in seen:
                seen.add(child)
                stack.append((child, iter(child.parents)))
                break
        else:
            stack.pop()
            order.append(fn)
    order.reverse()
    return order


def run_backward(root, grad, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (an array shaped like ``root``) from ``root`` back to every leaf that requires grad."""
    root_fn = root.grad_fn
    if root_fn is None:
        _accumulate_leaf(root, grad, owned=False)
        return
    order = _topological(root_fn)
    grads = {root_fn: grad}
    handed = set()  # ids of fresh arrays now held as some leaf's .grad: never hand one to a second leaf
    for fn in order:
        if fn.released:
            raise RuntimeError(
                "backward through a part of the graph that was already freed: the graph's buffers are released "
                "after backward() unless you call backward(retain_graph=True) the first time")
        g_out = grads.pop(fn, None)
        if g_out is None:  # no path from root carries a gradient here
            continue
        if fn.retained is not None:
            t = fn.retained()
            if t is not None:
                _accumulate_leaf(t, g_out, owned=False)
        in_grads = fn.backward(fn.backend.xp, g_out)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        for p, need, g in zip(fn.parents, fn.needs_input_grad, in_grads):
            if not need or g is None:
                continue
            if g.shape != p.data.shape:
                g = sum_to(fn.backend.xp, g, p.data.shape)
            child = p.grad_fn
            if child is None:  # a leaf
                owned = g is not g_out and g.base is None and id(g) not in handed
                _accumulate_leaf(p, g, owned)
                if owned:
                    handed.add(id(g))
            else:
                prev = grads.get(child)
                grads[child] = g if prev is None else prev + g
        if not retain_graph:
            fn._release()


def _accumulate_leaf(t, g, owned: bool) -> None:
    if g.dtype != t.data.dtype:
        g = g.astype(t.data.dtype)
        owned = True
    if t.grad is None:
        t.grad = _tensor_cls()._make(g if owned else g.copy(), False, None)
    else:
        t.grad.data += g
