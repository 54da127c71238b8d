"""CPU optimizer updates: ONE compiled pass over a parameter (or a flat group) and its state, split over the
cores when large.

Each function has the signature of ``gpunet.optim._functional.<name>_update`` and gives its numbers: the
hyper-parameters are turned into the same float64 Python numbers the reference computes, then cast to the
parameter's dtype once, as NumPy casts a Python scalar against a float32 array. Arrays the kernels do not take
(non-contiguous, mixed dtypes, float16) go to the reference.
"""
from __future__ import annotations

import numpy as np

from ..optim import _functional as ref
from . import _parallel
from ._numpy_fused import usable


def _kernels():
    from . import _cpu_optim_kernels  # (only called where usable() found the compiled kernels on)

    return _cpu_optim_kernels


def _over(kernel, param, arrays, hp) -> None:
    """``kernel(*flat arrays, hp array, i0, i1)`` over the elements of ``param``, one span per core when
    large. ``hp``: the hyper-parameters, packed in one array of the parameter's dtype (rounded once each, as
    NumPy rounds a Python scalar against a float32 array)."""
    h = np.array(hp, dtype=param.dtype)
    n = param.size
    nparts = _parallel.parts(n)
    if nparts == 1 and param.ndim == 1:  # e.g. a small model's flat group: one call, nothing else (µs a step)
        kernel(*arrays, h, 0, n)
        return
    flat = [a if a.ndim == 1 else a.reshape(-1) for a in arrays]  # every array is shaped like param
    _parallel.run(lambda k, i0, i1: kernel(*flat, h, i0, i1), n, nparts)


def _lerp_weights(w: float):
    """(w, wc) for _cpu_optim_kernels._lerp: wc < 0 says "from the start" (|w| < 0.5, as the reference)."""
    return w, (-1.0 if abs(w) < 0.5 else 1 - w)


def sgd_update(xp, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize,
               init_buffer) -> None:
    has_m = momentum != 0
    if not usable(param, grad, momentum_buffer if has_m else None) or grad.shape != param.shape:
        return ref.sgd_update(xp, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
                              maximize, init_buffer)
    _over(_kernels().sgd, param, (param, grad, momentum_buffer if has_m else param),
          (lr, momentum, 1 - dampening, weight_decay, -1 if maximize else 1, has_m, init_buffer, nesterov))


def adam_update(xp, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
                amsgrad, decoupled, maximize=False) -> None:
    if not usable(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None) \
            or grad.shape != param.shape:
        return ref.adam_update(xp, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                               weight_decay, amsgrad, decoupled, maximize)
    decay = 1 - lr * weight_decay if weight_decay != 0 and decoupled else 1.0
    w1, w1c = _lerp_weights(1 - beta1)
    _over(_kernels().adam, param,
          (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else exp_avg_sq),
          (decay, 0.0 if decoupled else weight_decay, -1 if maximize else 1, w1, w1c, beta2, 1 - beta2,
           lr / (1 - beta1 ** step), (1 - beta2 ** step) ** 0.5, eps, amsgrad))


def adagrad_update(xp, param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize=False) -> None:
    if not usable(param, grad, state_sum) or grad.shape != param.shape:
        return ref.adagrad_update(xp, param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize)
    _over(_kernels().adagrad, param, (param, grad, state_sum),
          (lr / (1 + (step - 1) * lr_decay), weight_decay, -1 if maximize else 1, eps))


def rmsprop_update(xp, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
                   momentum, centered, maximize=False) -> None:
    if not usable(param, grad, square_avg, grad_avg if centered else None,
                  momentum_buffer if momentum > 0 else None) or grad.shape != param.shape:
        return ref.rmsprop_update(xp, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                                  weight_decay, momentum, centered, maximize)
    w, wc = _lerp_weights(1 - alpha)
    _over(_kernels().rmsprop, param,
          (param, grad, square_avg, grad_avg if centered else square_avg,
           momentum_buffer if momentum > 0 else square_avg),
          (lr, alpha, w, wc, weight_decay, -1 if maximize else 1, eps, centered, momentum))


def adadelta_update(xp, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize=False) -> None:
    if not usable(param, grad, square_avg, acc_delta) or grad.shape != param.shape:
        return ref.adadelta_update(xp, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize)
    _over(_kernels().adadelta, param, (param, grad, square_avg, acc_delta),
          (lr, rho, 1 - rho, weight_decay, -1 if maximize else 1, eps))


UPDATES = {"sgd": sgd_update, "adam": adam_update, "adagrad": adagrad_update, "rmsprop": rmsprop_update,
           "adadelta": adadelta_update}
