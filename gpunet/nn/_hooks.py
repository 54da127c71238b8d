"""Forward hooks of modules (``register_forward_pre_hook`` / ``register_forward_hook``), as ``torch.nn``.

A module without hooks pays one attribute read per call (``Module._has_hooks``); the first registration sets it
on that instance, and a Sequential stops fusing that module into its one-op runs (so its hooks run). Hooks run in registration order (``prepend=True`` puts one first) and are taken off by the
handle's ``remove()``. Hooks are not saved in ``state_dict``."""
from __future__ import annotations

import itertools
from collections import OrderedDict

__all__ = ["RemovableHandle"]

_ids = itertools.count()


class RemovableHandle:
    """What a ``register_*hook`` returns: ``remove()`` takes the hook off (also as a context manager)."""

    def __init__(self, table: OrderedDict, key: int) -> None:
        self._table, self.id = table, key

    def remove(self) -> None:
        self._table.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def register(module, table_name: str, hook, prepend: bool, with_kwargs: bool) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"{table_name[1:-1]}: expected a callable hook, got {type(hook).__name__}")
    if with_kwargs:
        raise NotImplementedError("with_kwargs=True hooks are not supported: the hook gets (module, args)")
    d = module.__dict__
    table = d.get(table_name)
    if table is None:
        table = d[table_name] = OrderedDict()
    key = next(_ids)
    table[key] = hook
    if prepend:
        table.move_to_end(key, last=False)
    if not d.get("_has_hooks"):
        from .module import structure_changed

        d["_has_hooks"] = True
        structure_changed()  # a Sequential that fused this module into one op plans again, calling it
    return RemovableHandle(table, key)


def call_with_hooks(module, args: tuple, kwargs: dict):
    d = module.__dict__
    for hook in list(d.get("_forward_pre_hooks", {}).values()):
        result = hook(module, args)
        if result is not None:
            args = result if isinstance(result, tuple) else (result,)
    out = module.forward(*args, **kwargs)
    for hook in list(d.get("_forward_hooks", {}).values()):
        result = hook(module, args, out)
        if result is not None:
            out = result
    return out
