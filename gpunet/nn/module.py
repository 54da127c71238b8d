"""Module: the base of every layer and model (PyTorch-shaped).

Parameters, buffers and submodules are registered by attribute assignment; names are dotted paths exactly as in
PyTorch (``0.weight``, ``layers.1.bias``), so a ``state_dict`` has the same keys as the same PyTorch model's.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from .. import backend as _backend
from ..autograd.inplace import bump
from ..autograd.tensor import Tensor, reset_grads
from .parameter import Parameter

__all__ = ["Module"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


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


class Module:
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

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for a in (args if not kwargs else (*args, *kwargs.values())):  # a loop: cheaper than any() on a genexpr
            if type(a) is not Tensor and _is_array(a):
                args, kwargs = self._prepare_inputs(args, kwargs)
                break
        return self.forward(*args, **kwargs)

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

    # ----------------------------------------------------------------- moving
    def to(self, *args: Any, **kwargs: Any) -> "Module":
        """Move parameters and buffers to a device and/or cast floating ones to a dtype, in place.

        ``to("cuda")``, ``to(np.float64)``, ``to("cpu", np.float32)``, ``to(device=..., dtype=...)``,
        ``to(tensor)`` (its device and dtype). ``param.data`` is rebound, so Parameter objects (and optimizers
        holding them) stay the same. Integer buffers (``num_batches_tracked``) are moved, never cast.
        """
        device, dtype = _parse_to(args, kwargs)
        be = _backend.get(device) if device is not None else None
        for t in self._tensors():
            _move(t, be, dtype)
            if t.grad is not None:
                _move(t.grad, be, dtype)
        return self

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self) -> "Module":
        return self.to("cuda")

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    # ----------------------------------------------------------------- state dict
    def _state_entries(self, prefix: str = "") -> "OrderedDict[str, Tensor]":
        """Key -> Tensor for every parameter and persistent buffer, in PyTorch's order (each module's own
        parameters, then its buffers, then its children's)."""
        out = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b
        for name, m in self._modules.items():
            if m is not None:
                out.update(m._state_entries(prefix + name + "."))
        return out

    def state_dict(self, prefix: str = "") -> "OrderedDict[str, np.ndarray]":
        """Host NumPy copies of every parameter and persistent buffer, keyed as in PyTorch."""
        return OrderedDict((k, np.array(t.numpy(), copy=True)) for k, t in self._state_entries(prefix).items())

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values IN PLACE into the existing parameter and buffer arrays.

        Values may be NumPy or CuPy arrays or Tensors; they are moved to each target's device and cast to its
        dtype. With ``strict`` (default) missing and unexpected keys are errors; shape mismatches always are.
        All problems are reported in ONE RuntimeError and nothing is loaded when it is raised. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        own = self._state_entries()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        staged, problems = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            try:
                value = _staged_value(state_dict[key], target)
            except (TypeError, ValueError) as e:
                problems.append(f"value for {key!r} cannot be read as an array: {e}")
                continue
            if tuple(value.shape) != tuple(target.shape):
                problems.append(f"size mismatch for {key!r}: the state_dict has shape {tuple(value.shape)}, the "
                                f"model has {tuple(target.shape)}")
            staged.append((target, value))
        if strict:
            problems = ([f"missing keys: {', '.join(map(repr, missing))}"] if missing else []) + \
                       ([f"unexpected keys: {', '.join(map(repr, unexpected))}"] if unexpected else []) + problems
        if problems:
            raise RuntimeError(f"error(s) in loading state_dict for {type(self).__name__}; nothing was loaded:\n  "
                               + "\n  ".join(problems) + "\nCheck that the checkpoint matches this architecture"
                               + (", or pass strict=False to skip missing/unexpected keys" if strict else ""))
        for target, value in staged:
            target.data[...] = value
            bump(target, False)
        return IncompatibleKeys(missing, unexpected)

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


def _staged_value(value, target: Tensor):
    """``value`` as an array on ``target``'s device with its dtype (a fresh array, not yet copied in)."""
    if isinstance(value, Tensor):
        value = value.data
    if not _is_array(value):
        value = np.asarray(value)
        if value.dtype == object:
            raise TypeError(f"got {type(value).__name__}")
    be = _backend.backend_of((target.data,))
    return be.asarray(value, dtype=target.dtype)


def _is_device(x) -> bool:
    if not isinstance(x, str):
        return False
    key = x.lower()
    return key in ("auto", "numpy", "cpu", "np", "cupy", "cuda", "gpu", "cp") or key.startswith("cuda:")


def _parse_to(args, kwargs):
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    if kwargs:
        raise TypeError(f"to(): unexpected keyword argument(s) {', '.join(kwargs)}; use device= and dtype=")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif _is_device(a):
            device = a
        else:
            try:
                dtype = np.dtype(a)
            except TypeError:
                raise TypeError(f"to(): {a!r} is neither a device ('cpu', 'cuda') nor a dtype "
                                f"(np.float32, 'float64')") from None
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}; integer buffers keep "
                            f"their dtype anyway")
    return device, dtype


def _move(t: Tensor, be, dtype) -> None:
    data = t.data
    if be is not None and _backend.backend_of((data,)) is not be:
        data = be.asarray(data)
    if dtype is not None and data.dtype.kind == "f" and data.dtype != dtype:
        data = data.astype(dtype)
    t.data = data
