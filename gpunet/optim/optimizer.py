"""Optimizer: parameter groups, per-parameter state, the step loop, and torch-layout state dicts.

Subclasses supply ``_kernel_name`` (asked of the parameter's backend for a fused update), ``_reference`` (the
``xp`` update in :mod:`gpunet.optim._functional`), ``_validate(group)`` and ``_update(kernel, xp, param, grad,
state, group)``. The update always runs on raw arrays (``.data``), so no graph is recorded.

State layout, as ``torch.optim``: ``optimizer.state[param]`` is a dict of arrays on the parameter's device and
dtype, created lazily at the first step that parameter has a gradient, plus ``"step"`` (a Python int here; torch
keeps a float tensor). ``state_dict()`` keys the state by the parameter's index across all groups and gives
``param_groups`` with ``"params"`` as index lists; its arrays are host NumPy copies and its numbers Python
scalars, so it can be saved with :func:`gpunet.save` and restored on either backend.
"""
from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from .. import backend as _backend
from ..autograd.grad_mode import enable_grad
from ..autograd.tensor import Tensor, reset_grads

__all__ = ["Optimizer"]


def _is_array(v) -> bool:
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, (np.generic, int, float, bool))


def _host_copy(v):
    """Array-like state value as a fresh host NumPy array (0-d stays 0-d)."""
    if isinstance(v, Tensor):
        v = v.data
    return np.array(_backend.backend_of((v,)).to_host(v), copy=True)


class Optimizer:
    """Base class of all optimizers (as ``torch.optim.Optimizer``).

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts each with a ``"params"`` entry
            and per-group options (missing options are filled from ``defaults``).
        defaults: the default value of every option.
    """

    _kernel_name: str = ""
    _reference: Callable | None = None

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or dicts, but got "
                            f"a single Tensor; pass [tensor] or model.parameters()")
        if isinstance(params, (set, frozenset)):
            self._extract_params(params)  # raises: a set has no stable order
        self.defaults = dict(defaults)
        self._validate(self.defaults)
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._flat: dict[int, _FlatGroup] = {}
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{type(self).__name__} got an empty parameter list; pass model.parameters() of a "
                             f"model that has parameters, or a non-empty list of tensors")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ----------------------------------------------------------------- hooks for subclasses
    def _validate(self, group: dict[str, Any]) -> None:
        """Raise ValueError for an invalid option in ``group`` (torch's wording)."""

    def _update(self, kernel, xp, param, grad, state: dict, group: dict[str, Any]) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (the others come from ``defaults``)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group has no 'params' entry; expected {'params': [tensors...], 'lr': ...}")
        group = dict(param_group)
        group["params"], names = self._extract_params(group["params"])
        if names is not None:
            group["param_names"] = names
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._validate(group)
        ids = [id(p) for p in group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; each parameter is "
                          "updated once per occurrence. Remove the duplicates.", stacklevel=3)
        for existing in self.param_groups:
            if ("param_names" in existing) != ("param_names" in group):
                raise ValueError("all optimizer param groups should be with/without names; cannot add a group "
                                 f"{'with' if names is not None else 'without'} names to this optimizer")
            if not {id(p) for p in existing["params"]}.isdisjoint(ids):
                raise ValueError("some parameters appear in more than one parameter group; give each parameter "
                                 "to one group only")
        self.param_groups.append(group)

    @staticmethod
    def _extract_params(params):
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        named = [isinstance(p, tuple) for p in params]
        names = None
        if any(named):
            if not all(named):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            names = [n for n, _ in params]
            params = [p for _, p in params]
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but parameter {i} is a "
                                f"{type(p).__name__}; wrap arrays with gn.tensor(a, requires_grad=True)")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (parameter {i} was computed by "
                                 f"{type(p.grad_fn).__name__}); optimize the leaf it came from, or detach() it "
                                 f"and set requires_grad=True")
        return params, names

    # ----------------------------------------------------------------- the step
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: ``None`` (default, as torch) or zeros in place."""
        for group in self.param_groups:
            reset_grads(group["params"], set_to_none)

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient (parameters whose ``.grad`` is None are skipped).

        ``closure``, if given, re-evaluates the model and returns the loss; it runs with grad enabled before the
        update, and its loss is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            if not self._step_group_flat(group):
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    self._step_param(p, group)
        return loss

    def _kernel(self, be):
        """The update function for backend ``be`` (its fused kernel, else the reference), looked up once."""
        cache = self.__dict__.setdefault("_kernels", {})
        k = cache.get(be)
        if k is None:
            k = cache[be] = be.optimizer_kernel(self._kernel_name) or type(self)._reference
        return k

    def _step_param(self, p: Tensor, group: dict[str, Any]) -> None:
        grad = p.grad.data
        be = _backend.backend_of((p.data, grad), type(self).__name__, ("param", "param.grad"))
        if grad.shape != p.data.shape:
            raise ValueError(f"{type(self).__name__}.step: a parameter of shape {p.data.shape} has a gradient of "
                             f"shape {grad.shape}; assign p.grad a tensor shaped like p")
        self._update(self._kernel(be), be.xp, p.data, grad, self.state[p], group)

    # ----------------------------------------------------------------- flat groups (few calls per step)
    def _step_group_flat(self, group: dict[str, Any]) -> bool:
        """Update a whole group with ONE call of the update over flat buffers, where the backend asks for it
        (``Backend.flat_optimizer_max``: the CPU, for groups small enough that per-call overhead dominates).

        The parameters' arrays become views of one flat buffer (the Parameter objects stay the same), and each
        parameter's state arrays are views of the flat state, so ``state``/``state_dict`` read as usual. Needs
        every parameter of the group to have a gradient, one backend and dtype, equal step counts and the same
        state entries; otherwise returns False and the group is updated parameter by parameter.
        """
        params = group["params"]
        flat = self._flat.get(id(group))
        if flat is None or not flat.load_grads(params):  # the common case loads in one loop, no rebuild
            self._flat.pop(id(group), None)
            for p in params:
                g = p.grad
                if g is None or g.data.shape != p.data.shape:
                    # parameter-by-parameter this time; step counts may part, so the group is rebuilt (checked)
                    return False
            # no group yet, or a parameter was rebound (e.g. by ``to()``): (re)build it over the current arrays
            flat = _FlatGroup.build(params, self.state)
            if flat is None or not flat.load_grads(params):
                return False
            self._flat[id(group)] = flat
        self._update(self._kernel(flat.backend), flat.backend.xp, flat.param, flat.grad, flat.state, group)
        flat.publish(params, self.state)
        return True

    # ----------------------------------------------------------------- state dicts
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: host array | number}}, "param_groups": [{option: value, "params":
        [index, ...]}]}`` with indices counting the parameters of all groups in order (torch's layout). Arrays
        are host NumPy copies: later steps do not change a saved dict."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, st in self.state.items():
            if id(p) in index:
                state[index[id(p)]] = {k: (_host_copy(v) if _is_array(v) else v) for k, v in st.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore options and state saved by :meth:`state_dict` (of an optimizer over parameters of the same
        shapes, in the same groups). Arrays go to each parameter's device, floating ones in its dtype; the loaded
        optimizer continues exactly as the saved one would have."""
        saved_groups = state_dict["param_groups"]
        groups = self.param_groups
        if len(groups) != len(saved_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups: {len(saved_groups)} "
                             f"saved, {len(groups)} in this optimizer; build the optimizer with the same groups "
                             f"as the one that was saved")
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group: group {i} has {len(s['params'])} parameters saved but "
                                 f"{len(g['params'])} here; build the optimizer over the same parameters")
        id_map = {}
        for g, s in zip(groups, saved_groups):
            for saved_id, p in zip(s["params"], g["params"]):
                id_map[int(saved_id)] = p
        state: defaultdict = defaultdict(dict)
        for key, value in state_dict["state"].items():
            k = int(key)
            if k not in id_map:
                raise ValueError(f"loaded state dict has state for parameter index {k}, but its param_groups "
                                 f"list only indices {sorted(id_map)}; the state dict is malformed")
            state[id_map[k]] = self._load_param_state(id_map[k], k, value)
        new_groups = []
        for g, s in zip(groups, saved_groups):
            ng = {k: copy.deepcopy(v) for k, v in s.items() if k != "params"}
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            new_groups.append(ng)
        self.state = state
        self.param_groups = new_groups
        self._flat = {}

    @staticmethod
    def _load_param_state(p: Tensor, index: int, saved: dict) -> dict:
        be = _backend.backend_of((p.data,))
        out = {}
        for key, value in saved.items():
            if key == "step":
                out[key] = int(_host_copy(value)) if _is_array(value) else int(value)
            elif _is_array(value):
                host = _host_copy(value)
                if host.shape != p.data.shape:
                    raise ValueError(f"loaded state dict: state {key!r} of parameter {index} has shape "
                                     f"{host.shape} but the parameter has shape {p.data.shape}; the state dict "
                                     f"belongs to a different model")
                dtype = p.data.dtype if host.dtype.kind == "f" else host.dtype
                out[key] = be.asarray(host, dtype=dtype)  # host is a fresh copy: nothing aliases the dict
            else:
                out[key] = copy.deepcopy(value)
        return out

    # ----------------------------------------------------------------- display
    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


class _FlatGroup:
    """One group's parameters, gradients and state packed in flat buffers; per-parameter views of each."""

    def __init__(self, backend, param, grad, offsets, shapes, views, grad_views, state):
        self.backend, self.param, self.grad = backend, param, grad
        self.offsets, self.shapes, self.views, self.grad_views = offsets, shapes, views, grad_views
        self.state = state

    @classmethod
    def build(cls, params, state) -> "_FlatGroup | None":
        if not params:
            return None
        datas = [p.data for p in params]
        be = _backend.backend_of(datas)
        total = sum(int(d.size) for d in datas)
        if total > be.flat_optimizer_max or len(params) < 2:
            return None
        dtype = datas[0].dtype
        if dtype.kind != "f" or any(d.dtype != dtype for d in datas) or len({id(p) for p in params}) != len(params):
            return None
        steps = {state[p].get("step") if p in state else None for p in params}
        if len(steps) != 1:
            return None
        # same state entries too: where one parameter has none yet (its first gradient comes after the others'
        # state, e.g. SGD's momentum buffer, which has no step count to tell), the group steps parameter by
        # parameter this once, so that state starts as a first step makes it (b = g for SGD, as torch)
        keys = set(state.get(params[0], ()))
        if any(set(state.get(p, ())) != keys for p in params):
            return None
        xp = be.xp
        offsets, shapes, o = [], [], 0
        for d in datas:
            offsets.append(o)
            shapes.append(d.shape)
            o += int(d.size)
        flat_p = xp.empty(total, dtype=dtype)
        flat_g = xp.zeros(total, dtype=dtype)
        views, grad_views = [], []
        for p, off, shp in zip(params, offsets, shapes):
            n = int(np.prod(shp, dtype=np.int64))
            v = flat_p[off:off + n].reshape(shp)
            v[...] = p.data
            p.data = v
            views.append(v)
            grad_views.append(flat_g[off:off + n].reshape(shp))
        flat_state: dict[str, Any] = {}
        first = state[params[0]] if params[0] in state else {}
        for k, v in first.items():
            if _is_array(v) and getattr(v, "shape", None) == params[0].data.shape:
                buf = xp.empty(total, dtype=v.dtype)
                for p, off, shp in zip(params, offsets, shapes):
                    buf[off:off + int(np.prod(shp, dtype=np.int64))] = state[p][k].reshape(-1)
                flat_state[k] = buf
            else:
                flat_state[k] = v
        return cls(be, flat_p, flat_g, offsets, shapes, views, grad_views, flat_state)

    def load_grads(self, params) -> bool:
        """Copy each parameter's gradient into the flat gradient; False if some parameter no longer holds its
        view, or has no gradient or one of another shape (the caller then sorts it out; a partial copy is
        harmless, the flat gradient is scratch)."""
        if len(params) != len(self.views):
            return False
        for p, v, gv, shape in zip(params, self.views, self.grad_views, self.shapes):
            g = p.grad
            if g is None or p.data is not v:
                return False
            g = g.data
            if g.shape != shape:
                return False
            gv[...] = g  # half the cost of xp.copyto on a small array
        return True

    def publish(self, params, state) -> None:
        """Give each parameter's state entries as views of the flat state (and the shared step count). The
        views are made once per set of state keys; later steps only copy the scalars."""
        keys = tuple(self.state)
        if keys != getattr(self, "_published", None):
            n_total = self.param.shape[0]
            for p, off, shp in zip(params, self.offsets, self.shapes):
                st = state[p]
                n = int(np.prod(shp, dtype=np.int64))
                for k, v in self.state.items():
                    if _is_array(v) and getattr(v, "ndim", 0) == 1 and v.shape[0] == n_total:
                        st[k] = v[off:off + n].reshape(shp)
            self._scalars = [k for k, v in self.state.items() if not (_is_array(v) and getattr(v, "ndim", 0) == 1
                                                                        and v.shape[0] == n_total)]
            self._published = keys
        for k in self._scalars:
            v = self.state[k]
            for p in params:
                state[p][k] = v
