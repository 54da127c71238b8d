"""Numerical gradient check: analytic vector-Jacobian products against float64 central differences."""
from __future__ import annotations

import numpy as np

from . import backend as _backend
from .autograd.grad_mode import enable_grad
from .autograd.tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message names the input and the worst element."""


def _as_list(inputs):
    return list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              max_elements: int = 64, n_directions: int = 8, seed: int = 0) -> bool:
    """Check ``fn``'s backward against central differences in float64.

    ``inputs`` is a tensor or a sequence of them (other values are passed through unchanged). Every floating
    input that requires grad is checked; inputs must be float64 (build them with ``dtype=np.float64``). The
    output (any shape) is contracted with a fixed random vector ``r`` so one backward pass gives ``∇⟨r, fn(x)⟩``.
    Inputs with at most ``max_elements`` elements are checked element by element; larger ones along
    ``n_directions`` random directions ``d``: ⟨∇, d⟩ against (f(x+εd) − f(x−εd)) / 2ε.

    Returns True, or raises :class:`GradcheckError` naming the input, the worst element (or direction), and the
    analytic and numerical values.
    """
    inputs = _as_list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass tensors built with requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                            f"inputs (build them with dtype=np.float64 or call .double())")
    rng = np.random.default_rng(seed)

    def call():
        out = fn(*inputs)
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
        return out

    with enable_grad():
        for i in checked:
            inputs[i].grad = None
        out = call()
        be = _backend.backend_of((out.data,))
        r = be.asarray(rng.standard_normal(out.shape)).astype(out.dtype)
        out.backward(r)

    def f():
        o = call()
        return float((be.to_host(o.data).astype(np.float64) * be.to_host(r)).sum())

    for i in checked:
        t = inputs[i]
        analytic = np.zeros(t.shape) if t.grad is None else be.to_host(t.grad.data).astype(np.float64)
        x = t.data
        orig = x.copy()
        if t.data.size <= max_elements:
            numeric = np.zeros(t.shape)
            flat = numeric.reshape(-1)
            for k in range(x.size):
                idx = np.unravel_index(k, x.shape)
                x[idx] = orig[idx] + eps
                fp = f()
                x[idx] = orig[idx] - eps
                fm = f()
                x[idx] = orig[idx]
                flat[k] = (fp - fm) / (2 * eps)
            err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
            if err.size and err.max() > 0:
                k = np.unravel_index(int(err.argmax()), err.shape)
                raise GradcheckError(
                    f"gradcheck: input {i} (shape {t.shape}): gradient wrong at element {tuple(int(j) for j in k)}: "
                    f"analytic {analytic[k]:.10g} vs numerical {numeric[k]:.10g} "
                    f"(|diff| {abs(analytic[k] - numeric[k]):.3g} > atol {atol} + rtol {rtol}·|numerical|)")
        else:
            for d_i in range(n_directions):
                d = rng.standard_normal(t.shape)
                d /= np.linalg.norm(d)
                dd = be.asarray(d).astype(x.dtype)
                x[...] = orig + eps * dd
                fp = f()
                x[...] = orig - eps * dd
                fm = f()
                x[...] = orig
                numeric = (fp - fm) / (2 * eps)
                an = float((analytic * d).sum())
                if abs(an - numeric) > atol + rtol * abs(numeric):
                    raise GradcheckError(
                        f"gradcheck: input {i} (shape {t.shape}): directional derivative {d_i} wrong: "
                        f"analytic {an:.10g} vs numerical {numeric:.10g} (|diff| {abs(an - numeric):.3g})")
    return True
