"""Module: the base of every layer and model (PyTorch-shaped).

Parameters, buffers and submodules are registered by attribute assignment; names are dotted paths exactly as in
PyTorch (``0.weight``, ``layers.1.bias``), so a ``state_dict`` has the same keys as the same PyTorch model's.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator

import numpy as np

from .. import backend as _backend
from . import _hooks
from ..autograd.tensor import Tensor, reset_grads
from ._module_moves import IncompatibleKeys, ModuleTensors  # noqa: F401  (IncompatibleKeys: re-exported)
from .parameter import Parameter

__all__ = ["Module"]



# Bumped by every change to any module's attributes, parameters, buffers or submodules. What is derived from a
# module tree and cached (Sequential's plan of fused layers) stays valid while this number is unchanged.
_structure_version = 0


def structure_version() -> int:
    return _structure_version


def structure_changed() -> None:
    global _structure_version
    _structure_version += 1


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__")


class Module(ModuleTensors):
    """Base class of layers and models; subclasses define ``forward``.

    ``module(*inputs)`` calls ``forward`` after moving raw NumPy/CuPy array inputs to the module's device and
    casting floating ones to its dtype (:meth:`_prepare_inputs`).
    """

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()

    def forward(self, *inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define forward(self, ...) in the "
                                  f"subclass")

    _has_hooks = False  # set on the instance by the first register_forward_(pre_)hook

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for a in (args if not kwargs else (*args, *kwargs.values())):  # a loop: cheaper than any() on a genexpr
            if type(a) is not Tensor and _is_array(a):
                args, kwargs = self._prepare_inputs(args, kwargs)
                break
        if self._has_hooks:
            return _hooks.call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """``hook(module, args)`` before each forward; a non-None result replaces ``args`` (a tuple, or one
        value). Returns a handle whose ``remove()`` takes the hook off (as torch)."""
        return _hooks.register(self, "_forward_pre_hooks", hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False):
        """``hook(module, args, output)`` after each forward; a non-None result replaces the output."""
        return _hooks.register(self, "_forward_hooks", hook, prepend, with_kwargs)

    def register_full_backward_pre_hook(self, hook, *, prepend: bool = False):
        """``hook(module, grad_output)`` when the gradients of the module's outputs are known, before its
        inputs' are computed; a non-None result (a tuple) replaces ``grad_output`` (as torch)."""
        return _hooks.register(self, "_backward_pre_hooks", hook, prepend, False)

    def register_full_backward_hook(self, hook, *, prepend: bool = False):
        """``hook(module, grad_input, grad_output)`` once the gradients of the module's positional Tensor inputs
        are computed (None for inputs that need none); a non-None result (a tuple) replaces ``grad_input``. A
        hooked module is called as itself (a Sequential does not fuse it), and its Tensor inputs and outputs
        pass through identity nodes that run the hooks (as torch)."""
        return _hooks.register(self, "_backward_hooks", hook, prepend, False)

    # ----------------------------------------------------------------- input placement (the one helper)
    def _reference_tensor(self, args) -> Tensor | None:
        """The module's first floating parameter or buffer; else the first Tensor input; else None."""
        for t in self._tensors():
            if t.dtype.kind == "f":
                return t
        for a in args:
            if isinstance(a, Tensor):
                return a
        return None

    def _prepare_inputs(self, args, kwargs):
        """Raw arrays among the inputs -> Tensors on the module's device; floating ones cast to its dtype.

        Integer arrays (class indices) are moved, never cast. Tensors are passed through unchanged.
        """
        ref = self._reference_tensor(args)
        be = _backend.backend_of((ref.data,)) if ref is not None else _backend.current()
        dtype = ref.dtype if ref is not None and ref.dtype.kind == "f" else None

        def convert(a):
            if not _is_array(a):
                return a
            cast = dtype if (dtype is not None and a.dtype.kind == "f") else None
            return Tensor._make(be.asarray(a, dtype=cast), False, None)

        return tuple(convert(a) for a in args), {k: convert(v) for k, v in kwargs.items()}

    # ----------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        structure_changed()
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() was called; call "
                                 f"super().__init__() first in {type(self).__name__}.__init__")
        params, modules, buffers = d["_parameters"], d["_modules"], d["_buffers"]
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r} of "
                                f"{type(self).__name__} (a Parameter or None is required)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to submodule {name!r} of "
                                f"{type(self).__name__} (a Module or None is required)")
            modules[name] = None
        elif name in buffers:
            buffers[name] = _as_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        structure_changed()
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_modules", "_buffers"):
            d[key].pop(name, None)
        d["_non_persistent"].discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            table = d.get(key)
            if table is not None and name in table:
                return table[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        structure_changed()
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d[key]:
                del d[key][name]
                d["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``) as ``name``."""
        _check_name(self, name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, got "
                            f"{type(param).__name__}; wrap it: nn.Parameter(tensor)")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register a non-trainable tensor (e.g. running statistics) that moves with the module.

        Persistent buffers are part of the ``state_dict``; ``tensor`` may be None (absent).
        """
        _check_name(self, name)
        value = _as_buffer(name, tensor)
        self._forget(name)
        self._buffers[name] = value
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` as the submodule ``name``."""
        _check_name(self, name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module or None, got {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The submodule at the dotted path ``target`` ("" is the module itself)."""
        mod = self
        for part in target.split(".") if target else ():
            sub = mod._modules.get(part)
            if sub is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule {part!r} (looking up {target!r})")
            mod = sub
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target`` ("layers.0.weight"), as torch."""
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter {name!r} (looking up {target!r})"
                                 + (f"; {name!r} is not an nn.Parameter" if hasattr(mod, name) else ""))
        return mod._parameters[name]

    # ----------------------------------------------------------------- traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) for this module and every descendant, each once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, mod in self._modules.items():
            if mod is not None:
                yield from mod.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen = set()
        for name, mod in self._modules.items():
            if mod is not None and id(mod) not in seen:
                seen.add(id(mod))
                yield name, mod

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, t in getattr(mod, table).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield mod_prefix + ("." if mod_prefix else "") + name, t

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs, shared parameters once, in registration order."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def _tensors(self) -> Iterator[Tensor]:
        """Every parameter, then every buffer (each once)."""
        yield from self.parameters()
        yield from self.buffers()

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call ``fn`` on every submodule (children first) and then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------- modes and gradients
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (dropout active, batch norm on batch statistics) on this module and descendants."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode must be a bool, got {mode!r}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> "Module":
        """Evaluation mode: same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default), or to zeros in place."""
        reset_grads(self.parameters(), set_to_none)

    # ----------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _indent(repr(m), 2) for name, m in self._modules.items()]
        lines = extra_lines + child_lines
        body = type(self).__name__ + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body += extra_lines[0]
            else:
                body += "\n  " + "\n  ".join(lines) + "\n"
        return body + ")"


# ====================================================================== helpers
def _check_name(module: Module, name: str) -> None:
    if "_parameters" not in module.__dict__:
        raise AttributeError(f"cannot register {name!r} before Module.__init__() was called")
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"invalid name {name!r}: a non-empty string without '.' is required")
    if name in module.__dict__:
        raise KeyError(f"attribute {name!r} already exists on {type(module).__name__}")


def _as_buffer(name: str, value):
    if value is None or isinstance(value, Tensor):
        return value
    if _is_array(value):
        return Tensor._make(value, False, None)
    raise TypeError(f"buffer {name!r}: expected a Tensor, a NumPy/CuPy array or None, got {type(value).__name__}")


def _indent(text: str, n: int) -> str:
    lines = text.split("\n")
    return lines[0] + "".join("\n" + " " * n + line for line in lines[1:])
