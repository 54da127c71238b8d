"""Keyed and listed containers (as ``torch.nn``): ``ModuleDict``, ``ParameterList``, ``ParameterDict``.

Their entries are registered under their keys ("0", "1", ... for the list), so ``parameters()``, ``to()`` and
``state_dict()`` see them (``layers.encoder.weight``, ``scales.0``) exactly as in PyTorch.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator

from .module import Module, structure_changed
from .parameter import Parameter

__all__ = ["ModuleDict", "ParameterList", "ParameterDict"]


def _pairs(values) -> Iterable[tuple[str, Any]]:
    if isinstance(values, (dict, OrderedDict)) or hasattr(values, "keys"):
        return [(k, values[k]) for k in values.keys()]
    out = []
    for i, kv in enumerate(values):
        if not isinstance(kv, (tuple, list)) or len(kv) != 2:
            raise TypeError(f"update: element {i} should be a (key, value) pair, got {type(kv).__name__}")
        out.append(tuple(kv))
    return out


class _Keyed(Module):
    """The dict protocol over one of the module's tables (``_table``), entries stored by ``_store``."""
    _table = "_modules"

    def _store(self, key: str, value) -> None:
        raise NotImplementedError

    def __getitem__(self, key: str):
        return self.__dict__[self._table][key]

    def __setitem__(self, key: str, value) -> None:
        self._store(key, value)

    def __delitem__(self, key: str) -> None:
        structure_changed()
        del self.__dict__[self._table][key]

    def __len__(self) -> int:
        return len(self.__dict__[self._table])

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__[self._table])

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__[self._table]

    def keys(self):
        return self.__dict__[self._table].keys()

    def values(self):
        return self.__dict__[self._table].values()

    def items(self):
        return self.__dict__[self._table].items()

    def pop(self, key: str):
        v = self[key]
        del self[key]
        return v

    def update(self, values) -> None:
        for k, v in _pairs(values):
            self[k] = v


class ModuleDict(_Keyed):
    """Submodules by name, in insertion order: ``ModuleDict({"enc": Linear(4, 8), "dec": Linear(8, 4)})``."""
    _table = "_modules"

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _store(self, key: str, module) -> None:
        self.add_module(key, module)

    def clear(self) -> None:
        structure_changed()
        self._modules.clear()

    def forward(self, *args):
        raise NotImplementedError("ModuleDict has no forward(); call its modules in your module's forward")


def _parameters_repr(module) -> str:
    return "\n".join(f"({k}): Parameter containing: {tuple(p.shape)} {p.dtype}"
                     for k, p in module._parameters.items())


def _as_parameter(value) -> Parameter:
    return value if isinstance(value, Parameter) else Parameter(value)


class ParameterList(Module):
    """Parameters registered as "0", "1", ...; plain Tensors and arrays given to it become Parameters."""

    def __init__(self, values: Iterable | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _index(self, idx: int) -> int:
        n = len(self._parameters)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for ParameterList of length {n}")
        return idx % n

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self._parameters.values())[idx])
        return self._parameters[str(self._index(idx))]

    def __setitem__(self, idx: int, value) -> None:
        self.register_parameter(str(self._index(idx)), _as_parameter(value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def append(self, value) -> "ParameterList":
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values: Iterable) -> "ParameterList":
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        return _parameters_repr(self)


class ParameterDict(_Keyed):
    """Parameters by name, in insertion order; plain Tensors and arrays given to it become Parameters."""
    _table = "_parameters"

    def __init__(self, parameters=None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def _store(self, key: str, value) -> None:
        self.register_parameter(key, _as_parameter(value))

    def get(self, key: str, default=None):
        return self._parameters.get(key, default)

    def extra_repr(self) -> str:
        return _parameters_repr(self)
