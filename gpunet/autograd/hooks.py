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
_IDS = itertools.count()


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook (also a context manager that
    removes it on exit), as ``torch.utils.hooks.RemovableHandle``."""

    __slots__ = ("_key", "id")

    def __init__(self, key: int, hook_id: int) -> None:
        self._key = key
        self.id = hook_id

    def remove(self) -> None:
        entry = HOOKS.get(self._key)
        if entry is not None:
            entry[1].pop(self.id, None)
            if not entry[1]:
                del HOOKS[self._key]

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<RemovableHandle id={self.id}>"


def register(holder, hook) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"register_hook: expected a callable hook(grad) -> Tensor or None, got {type(hook).__name__}")
    key = id(holder)
    entry = HOOKS.get(key)
    if entry is None or entry[0]() is not holder:
        entry = HOOKS[key] = (weakref.ref(holder, _dropper(key)), {})
    hid = next(_IDS)
    entry[1][hid] = hook
    return RemovableHandle(key, hid)


def _dropper(key):
    def drop(ref):
        entry = HOOKS.get(key)
        if entry is not None and entry[0] is ref:
            del HOOKS[key]
    return drop


def hooks_of(holder):
    """``holder``'s hooks in registration order, or None."""
    entry = HOOKS.get(id(holder))
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
