"""Module hooks, as ``torch.nn``: forward hooks (``register_forward_pre_hook`` / ``register_forward_hook``) and
full backward hooks (``register_full_backward_pre_hook`` / ``register_full_backward_hook``).

A module without hooks pays one attribute read per call (``Module._has_hooks``); the first registration sets it
on that instance, and a Sequential stops fusing that module into its one-op runs (so its hooks run).
Hooks run in registration order (``prepend=True`` puts one first) and are taken off by the
handle's ``remove()``. Hooks are not saved in ``state_dict``."""
from __future__ import annotations

import itertools
from collections import OrderedDict

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.tensor import Tensor

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
    state = None
    if (d.get("_backward_hooks") or d.get("_backward_pre_hooks")) and is_grad_enabled():
        state = _BackwardHookState(module, len(args))
        args = state.wrap_inputs(args)
    out = module.forward(*args, **kwargs)
    for hook in list(d.get("_forward_hooks", {}).values()):
        result = hook(module, args, out)
        if result is not None:
            out = result
    if state is not None:
        out = state.wrap_outputs(out)
    return out


# ====================================================================== full backward hooks
class _BackwardHookState:
    """One call of a module with full backward hooks, as torch's ``BackwardHook``: the Tensor inputs and the
    outputs pass through identity nodes (torch-style Functions, one for all inputs and one for all outputs),
    whose backward sees every grad_output (pre-hooks, which may replace them) and then every grad_input (hooks,
    which may replace them)."""

    def __init__(self, module, n_args: int) -> None:
        self.module, self.n_args = module, n_args
        self.grad_output = None
        self.input_pos = ()  # positions of the inputs that go through the input node

    def wrap_inputs(self, args):
        pos = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad)
        if not pos:
            return args
        self.input_pos = pos
        new = _HookIdentity.apply(self, "input", *[args[i] for i in pos])
        new = new if isinstance(new, tuple) else (new,)
        args = list(args)
        for i, t in zip(pos, new):
            args[i] = t
        return tuple(args)

    def wrap_outputs(self, out):
        single = isinstance(out, Tensor)
        outs = (out,) if single else out
        if not isinstance(outs, tuple):
            return out
        pos = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not pos:
            return out
        new = _HookIdentity.apply(self, "output", *[outs[i] for i in pos])
        new = new if isinstance(new, tuple) else (new,)
        outs = list(outs)
        for i, t in zip(pos, new):
            outs[i] = t
        return outs[0] if single else tuple(outs)

    def on_grad_output(self, grads):
        d = self.module.__dict__
        for hook in list(d.get("_backward_pre_hooks", {}).values()):
            r = hook(self.module, grads)
            if r is not None:
                grads = _replacement(r, len(grads), "full backward pre-hook", "grad_output")
        self.grad_output = grads
        if not self.input_pos:  # no input needs a gradient: the hooks run now, with grad_input all None
            self._hooks((None,) * self.n_args)
        return grads

    def on_grad_input(self, grads):
        full = [None] * self.n_args
        for i, g in zip(self.input_pos, grads):
            full[i] = g
        full = self._hooks(tuple(full))
        return tuple(full[i] for i in self.input_pos)

    def _hooks(self, grad_input):
        for hook in list(self.module.__dict__.get("_backward_hooks", {}).values()):
            r = hook(self.module, grad_input, self.grad_output)
            if r is not None:
                grad_input = _replacement(r, len(grad_input), "full backward hook", "grad_input")
        return grad_input


def _replacement(r, n, what, name):
    r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
    if len(r) != n:
        raise RuntimeError(f"{what} returned {len(r)} values but {name} has {n}: return a tuple with one "
                           f"Tensor (or None) per entry of {name}, or None to keep it")
    return r


class _HookIdentity(Function):
    @staticmethod
    def forward(ctx, state, which, *tensors):
        ctx.state, ctx.which = state, which
        return tensors[0] if len(tensors) == 1 else tuple(tensors)

    @staticmethod
    def backward(ctx, *grads):
        st = ctx.state
        grads = st.on_grad_output(grads) if ctx.which == "output" else st.on_grad_input(grads)
        return (None, None) + tuple(grads)
