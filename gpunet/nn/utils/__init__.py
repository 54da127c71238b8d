"""``torch.nn.utils``' gradient clipping and parameter/vector conversion: :func:`clip_grad_norm_`,
:func:`clip_grad_value_`, :func:`parameters_to_vector`, :func:`vector_to_parameters`.

On the GPU the clipping reads nothing back to the host: the total norm stays a 0-d device tensor and the
gradients are multiplied by the clamped coefficient on the device (always, even when it is 1), as PyTorch does;
only ``error_if_nonfinite=True`` reads the norm (as in PyTorch).
"""
from __future__ import annotations

import math

import numpy as np

from ... import backend as _backend
from ...autograd import inplace as _inplace
from ...autograd.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _tensors(parameters) -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _vector_norm(xp, a, p: float):
    """``torch.linalg.vector_norm(a, p)`` of a raw array, as a 0-d array of ``a``'s device (no host read)."""
    if a.size == 0:
        if p < 0 or math.isinf(p):
            raise RuntimeError(f"clip_grad_norm_: the norm of order {p} of an empty gradient is undefined")
        return xp.zeros((), dtype=a.dtype)
    if p == 2.0:
        return xp.sqrt(xp.asarray((a * a).sum()))
    if p == math.inf:
        return xp.asarray(xp.abs(a).max())
    if p == -math.inf:
        return xp.asarray(xp.abs(a).min())
    if p == 0.0:
        return xp.asarray((a != 0).sum()).astype(a.dtype)
    if p == 1.0:
        return xp.asarray(xp.abs(a).sum())
    return xp.asarray((xp.abs(a) ** p).sum()) ** (1.0 / p)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale the gradients of ``parameters`` (an iterable of tensors, or one tensor) in place so that their
    total ``norm_type`` norm (the norm of the per-gradient norms, as if all were one vector) is at most
    ``max_norm``: each is multiplied by ``min(max_norm / (total_norm + 1e-6), 1)``. Parameters whose ``.grad`` is
    None are skipped. Returns the total norm (before clipping) as a 0-d tensor on the gradients' device.
    ``norm_type`` may be ``inf`` (or ``"inf"``). ``foreach`` is accepted for PyTorch's signature and ignored."""
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        from ...autograd.creation import tensor

        return tensor(0.0)
    first = _backend.backend_of((grads[0].data,))
    xp = first.xp
    norms = []
    for g in grads:
        be = _backend.backend_of((g.data,))
        n = _vector_norm(be.xp, g.data, norm_type)
        if be is not first:  # gradients on several devices: the norms meet on the first one's, as torch
            n = first.asarray(be.to_host(n))
        norms.append(n)
    dtype = np.result_type(*[n.dtype for n in norms])
    total = _vector_norm(xp, xp.stack([n.astype(dtype) for n in norms]), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            f"clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            f"`error_if_nonfinite=False`")
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)  # 0-d, on the device: no branch on its value
    for g in grads:
        be = _backend.backend_of((g.data,))
        c = coef if be is first else be.asarray(first.to_host(coef))
        g.data *= c.astype(g.data.dtype)
        _inplace.bump(g, False)
    return Tensor._make(total, False, None)


def clip_grad_value_(parameters, clip_value, foreach=None) -> None:
    """Clamp the gradients of ``parameters`` in place to ``[-clip_value, clip_value]`` (grads that are None are
    skipped), as ``torch.nn.utils.clip_grad_value_``. ``foreach`` is accepted and ignored."""
    clip_value = float(clip_value)
    for p in _tensors(parameters):
        g = p.grad
        if g is None:
            continue
        xp = _backend.backend_of((g.data,)).xp
        g.data[...] = xp.clip(g.data, -clip_value, clip_value)
        _inplace.bump(g, False)


def _check_device(tensors):
    dev = None
    for t in tensors:
        d = t.device
        if dev is None:
            dev = d
        elif d != dev:
            raise TypeError(f"Found two parameters on different devices, this is currently not supported. "
                            f"({dev} and {d})")


def parameters_to_vector(parameters) -> Tensor:
    """The parameters flattened and concatenated into one 1-d tensor (differentiable, as torch's)."""
    from ...functional.math import cat

    params = _tensors(parameters)
    _check_device(params)
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters) -> None:
    """Set the parameters' data from the 1-d ``vec`` (as produced by :func:`parameters_to_vector`): as torch's,
    each parameter's ``.data`` becomes a view of its slice of ``vec`` (they share memory afterwards)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected gpunet.Tensor, but got: {type(vec).__name__}")
    params = _tensors(parameters)
    _check_device([vec] + params)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() < total:
        raise RuntimeError(f"vector_to_parameters: vec has shape {tuple(vec.shape)}, but the parameters have "
                           f"{total} elements in all (a 1-d vector of at least that size is needed)")
    pointer = 0
    for p in params:
        n = p.numel()
        p.data = vec.data[pointer:pointer + n].reshape(p.shape)
        p._vc, p._gv = None, 0  # p's memory is vec's now: a fresh version counter when one is needed
        pointer += n

from . import rnn  # noqa: E402,F401  (torch.nn.utils.rnn, as gpunet.nn.utils.rnn)
