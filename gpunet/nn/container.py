"""Containers: Sequential (with Linear + activation and Conv + ReLU fusion) and ModuleList."""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Iterable, Iterator

from ..functional.linear import LinearAct, LinearChain
from .activation import GELU, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh
from .conv import Conv1d, Conv2d
from .linear import Linear
from .module import Module, structure_changed, structure_version

__all__ = ["Sequential", "ModuleList"]


def _fused_activation(m: Module):
    """``(name, negative_slope)`` of the fused-op activation equal to module ``m``, or None if it has none."""
    t = type(m)
    if m._has_hooks:  # called as a module, so that its hooks run
        return None
    if t is ReLU:
        return "relu", 0.01
    if t is LeakyReLU:
        return "leaky_relu", m.negative_slope
    if t is Sigmoid:
        return "sigmoid", 0.01
    if t is Tanh:
        return "tanh", 0.01
    if t is GELU:
        return ("gelu_tanh" if m.approximate == "tanh" else "gelu"), 0.01
    if t is SiLU:
        return "silu", 0.01
    return None


def _linear_layer(mods, i: int):
    """``(weight, bias, activation, negative_slope, next index)`` when ``mods[i]`` starts a fused linear layer: a
    ``Linear`` (its own activation, if any), or a ``Linear`` without one followed by a module of a fused
    activation; else None. Subclasses of Linear keep their own forward."""
    m = mods[i]
    if type(m) is not Linear or m._has_hooks:
        return None
    W, b = m.weight_and_bias()
    if m.activation is None and i + 1 < len(mods):
        fused = _fused_activation(mods[i + 1])
        if fused is not None:
            return W, b, fused[0], float(fused[1]), i + 2
    return W, b, m.activation or "identity", 0.01, i + 1


def _conv_relu(mods, i: int):
    """The step for ``mods[i]`` when it is a Conv1d / Conv2d (zero padding, no hooks) followed by a ReLU module:
    the layer's convolution with the ReLU in the same node (the NumPy backend's direct kernels apply it before
    they store the sums); else None."""
    m = mods[i]
    if type(m) not in (Conv1d, Conv2d) or m._has_hooks or m.padding_mode != "zeros" or i + 1 >= len(mods) \
            or (_fused_activation(mods[i + 1]) or ("",))[0] != "relu":
        return None
    return functools.partial(m._conv, act="relu")


def _plan(mods) -> list:
    """What ``Sequential.forward`` runs, in order: a module to call, or ``(Function, parameters, options)`` for
    a run of linear layers (one :class:`LinearAct`, or one :class:`LinearChain` for several); a convolution and
    the ReLU after it is one call (of the layer's ``_conv``)."""
    steps = []
    i, n = 0, len(mods)
    while i < n:
        conv = _conv_relu(mods, i)
        if conv is not None:
            steps.append(conv)
            i += 2
            continue
        layer = _linear_layer(mods, i)
        if layer is None:
            steps.append(mods[i])
            i += 1
            continue
        params, acts, alphas = [], [], []
        while layer is not None:  # the run of linear layers from i on runs as one op
            W, b, act, alpha, i = layer
            params += (W, b)
            acts.append(act)
            alphas.append(alpha)
            layer = _linear_layer(mods, i) if i < n else None
        if len(acts) == 1:
            steps.append((LinearAct, tuple(params), {"act": acts[0], "alpha": alphas[0]}))
        else:
            steps.append((LinearChain, tuple(params), {"acts": tuple(acts), "alphas": tuple(alphas)}))
    return steps


class _Indexed(Module):
    """Shared integer/slice indexing over the registered submodules."""

    def _index(self, idx: int) -> int:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of length {n}")
        return idx % n

    def _replace(self, key: str, module: Module) -> None:
        """Put ``module`` at ``key`` keeping its position."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}[{key}] = ...: expected a Module, got {type(module).__name__}")
        structure_changed()
        self._modules[key] = module

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]):
            del self._modules[key]
        # renumber so indices stay 0..n-1 (as torch)
        structure_changed()
        items = list(self._modules.items())
        self._modules.clear()
        for i, (_, m) in enumerate(items):
            self._modules[str(i)] = m

    def append(self, module: Module) -> "_Indexed":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "_Indexed":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> "_Indexed":
        items = list(self._modules.values())
        n = len(items)
        if not -n <= index <= n:
            raise IndexError(f"insert index {index} is out of range for {type(self).__name__} of length {n}")
        items.insert(index + n if index < 0 else index, module)
        structure_changed()
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)
        return self

    def pop(self, idx: int = -1) -> Module:
        """Remove and return the module at ``idx`` (the others renumbered, as torch)."""
        m = self[idx]
        del self[idx]
        return m


class Sequential(_Indexed):
    """Modules applied in order: ``Sequential(m0, m1, ...)`` or ``Sequential(OrderedDict(name=module))``.

    A ``Linear(activation=None)`` directly followed by ReLU, LeakyReLU, Sigmoid, Tanh, GELU or SiLU runs as ONE
    fused ``F.linear(x, W, b, activation)`` layer, and consecutive such layers (and plain ``Linear`` modules) run
    as one :class:`~gpunet.functional.linear.LinearChain` op: the same numbers as running the modules apart, one
    graph node instead of one per module. Module names, indices and ``state_dict`` keys are unchanged.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self._replace(list(self._modules)[self._index(idx)], module)

    def forward(self, x):
        mods = tuple(self._modules.values())
        plan = self.__dict__.get("_fusion_plan")
        if plan is None or plan[0] != structure_version() or plan[1] != mods:
            # (re)planned after any change to any module: assignment, registration, deletion
            plan = self.__dict__["_fusion_plan"] = (structure_version(), mods, _plan(mods))
        for step in plan[2]:
            if type(step) is tuple:
                fn, params, kwargs = step
                x = fn.apply(x, *params, **kwargs)
            else:
                x = step(x)
        return x


class ModuleList(_Indexed):
    """A list of modules registered as ``0``, ``1``, ... (no forward of its own)."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(self._index(idx))]

    def __setitem__(self, idx: int, module: Module) -> None:
        self._replace(str(self._index(idx)), module)

    def forward(self, *args):
        raise NotImplementedError("ModuleList has no forward(); iterate over it in your module's forward")
