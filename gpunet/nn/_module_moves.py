"""A module's tensors moved, cast, saved and loaded: ``to()``, ``cpu()``/``cuda()``/``float()``/``double()``,
``state_dict()`` and ``load_state_dict()`` (a mixin of :class:`~gpunet.nn.module.Module`), and their helpers."""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any

import numpy as np

from .. import backend as _backend
from ..autograd.inplace import bump
from ..autograd.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__")


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


class ModuleTensors:
    """The moving and state-dict methods of Module."""

    # ----------------------------------------------------------------- moving
    def to(self, *args: Any, **kwargs: Any) -> "ModuleTensors":
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

    def cpu(self) -> "ModuleTensors":
        return self.to("cpu")

    def cuda(self) -> "ModuleTensors":
        return self.to("cuda")

    def float(self) -> "ModuleTensors":
        return self.to(np.float32)

    def double(self) -> "ModuleTensors":
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

