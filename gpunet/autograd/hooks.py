"""Tensor gradient hooks (``Tensor.register_hook``) and their removable handles, as PyTorch's.

A hook on a leaf is kept for the tensor, a hook on a non-leaf for its ``grad_fn`` at registration time (a later
in-place write gives the tensor a new ``grad_fn``; the hook stays with the old one, as in torch). The registry is
keyed by ``id`` and emptied by a weakref callback when its holder dies; the engine's fast loop runs whenever it is
empty, so hooks cost nothing when none is registered.
"""
from __future__ import annotations

import itertools
import weakref

# id(holder) -> (weakref to the holder, {handle id: hook}); holder: a leaf Tensor or a Function
HOOKS: dict = {}
# the same for hooks that run on a leaf after its .grad got its whole gradient of one backward (see
# register_post_accumulate)
POST_ACC: dict = {}
# callbacks queued (queue_callback) during the backward pass now running; None outside one
CALLBACKS: list | None = None
_IDS = itertools.count()


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook (also a context manager that
    removes it on exit), as ``torch.utils.hooks.RemovableHandle``."""

    __slots__ = ("_key", "id", "_table")

    def __init__(self, key: int, hook_id: int, table: dict | None = None) -> None:
        self._key = key
        self.id = hook_id
        self._table = HOOKS if table is None else table

    def remove(self) -> None:
        entry = self._table.get(self._key)
        if entry is not None:
            entry[1].pop(self.id, None)
            if not entry[1]:
                del self._table[self._key]

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<RemovableHandle id={self.id}>"


def register(holder, hook, table: dict | None = None) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"register_hook: expected a callable hook(grad) -> Tensor or None, got {type(hook).__name__}")
    table = HOOKS if table is None else table
    key = id(holder)
    entry = table.get(key)
    if entry is None or entry[0]() is not holder:
        entry = table[key] = (weakref.ref(holder, _dropper(key, table)), {})
    hid = next(_IDS)
    entry[1][hid] = hook
    return RemovableHandle(key, hid, table)


def register_post_accumulate(leaf, hook) -> RemovableHandle:
    """Run ``hook(leaf)`` in each backward pass once ``leaf.grad`` holds all of that pass's gradient for
    ``leaf`` (as torch's ``Tensor.register_post_accumulate_grad_hook``). The engine counts the graph's edges
    into ``leaf`` to know when that is; a leaf whose count is not reached (a backward that returned None for
    it) gets its hook at the end of the pass."""
    if getattr(leaf, "grad_fn", None) is not None or not getattr(leaf, "requires_grad", False):
        raise RuntimeError("post accumulate grad hooks can only be registered on leaf tensors that require grad")
    return register(leaf, hook, POST_ACC)


def queue_callback(callback) -> None:
    """Run ``callback()`` once the backward pass now running has finished (as torch's
    ``Variable._execution_engine.queue_callback``); only callable from inside a backward pass (a hook)."""
    if CALLBACKS is None:
        raise RuntimeError("queue_callback: no backward pass is running; call it from a gradient hook")
    CALLBACKS.append(callback)


def _dropper(key, table):
    def drop(ref):
        entry = table.get(key)
        if entry is not None and entry[0] is ref:
            del table[key]
    return drop


def hooks_of(holder, table: dict | None = None):
    """``holder``'s hooks in registration order, or None."""
    entry = (HOOKS if table is None else table).get(id(holder))
    if entry is None or entry[0]() is not holder:
        return None
    return tuple(entry[1].values())


def call(hooks, g):
    """Run ``hooks`` on the gradient array ``g`` (each gets a Tensor, and may return a replacement)."""
    from .function import _tensor_cls

    Tensor = _tensor_cls()
    for h in hooks:
        r = h(Tensor._make(g, False, None))
        if r is None:
            continue
        name = getattr(h, "__name__", repr(h))
        if not isinstance(r, Tensor):
            raise TypeError(f"expected Tensor, but hook '{name}' returned '{type(r).__name__}' (a hook returns None "
                            f"or a Tensor to use as the gradient)")
        a = r.data
        if type(a) is not type(g):
            raise RuntimeError(f"hook '{name}' has changed the device of value (it returned a tensor on "
                               f"{r.device})")
        if a.shape != g.shape:
            raise RuntimeError(f"hook '{name}' has changed the size of value (was {tuple(g.shape)}, got "
                               f"{tuple(a.shape)})")
        if a.dtype != g.dtype:
            raise RuntimeError(f"hook '{name}' has changed the type of value (was {g.dtype} got {a.dtype})")
        g = a
    return g
