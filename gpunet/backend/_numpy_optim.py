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
from . import _numba, _parallel
from ._numpy_fused import usable


def _flat(*arrays):
    return [a.reshape(-1) if a is not None else None for a in arrays]


def _over(kernel, param, *args) -> None:
    """``kernel(*args, i0, i1)`` over the elements of ``param``, one span per core when large."""
    _parallel.run(lambda k, i0, i1: kernel(*args, i0, i1), _parallel.spans(param.size))


def _lerp_weights(w: float, T):
    """(w, wc) for _cpu_kernels._lerp: wc < 0 says "from the start" (|w| < 0.5, as the reference)."""
    return T(w), T(-1.0 if abs(w) < 0.5 else 1 - w)


def sgd_update(xp, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize,
               init_buffer) -> None:
    has_m = momentum != 0
    if not usable(param, grad, momentum_buffer if has_m else None) or grad.shape != param.shape:
        return ref.sgd_update(xp, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
                              maximize, init_buffer)
    T = param.dtype.type
    p, g, b = _flat(param, grad, momentum_buffer if has_m else param)
    _over(_numba.kernels().sgd, p, p, g, b, T(lr), T(momentum), T(1 - dampening), T(weight_decay),
          T(-1 if maximize else 1), has_m, bool(init_buffer), bool(nesterov))


def adam_update(xp, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
                amsgrad, decoupled, maximize=False) -> None:
    if not usable(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None) \
            or grad.shape != param.shape:
        return ref.adam_update(xp, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                               weight_decay, amsgrad, decoupled, maximize)
    T = param.dtype.type
    decay = 1 - lr * weight_decay if weight_decay != 0 and decoupled else 1.0
    wd = 0.0 if decoupled else weight_decay
    w1, w1c = _lerp_weights(1 - beta1, T)
    p, g, m, v, vm = _flat(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else exp_avg_sq)
    _over(_numba.kernels().adam, p, p, g, m, v, vm, T(decay), T(wd), T(-1 if maximize else 1), w1, w1c,
          T(beta2), T(1 - beta2), bool(amsgrad), T(lr / (1 - beta1 ** step)), T((1 - beta2 ** step) ** 0.5),
          T(eps))


def adagrad_update(xp, param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize=False) -> None:
    if not usable(param, grad, state_sum) or grad.shape != param.shape:
        return ref.adagrad_update(xp, param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize)
    T = param.dtype.type
    p, g, s = _flat(param, grad, state_sum)
    _over(_numba.kernels().adagrad, p, p, g, s, T(lr / (1 + (step - 1) * lr_decay)), T(weight_decay),
          T(-1 if maximize else 1), T(eps))


def rmsprop_update(xp, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
                   momentum, centered, maximize=False) -> None:
    if not usable(param, grad, square_avg, grad_avg if centered else None,
                  momentum_buffer if momentum > 0 else None) or grad.shape != param.shape:
        return ref.rmsprop_update(xp, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                                  weight_decay, momentum, centered, maximize)
    T = param.dtype.type
    w, wc = _lerp_weights(1 - alpha, T)
    p, g, sq = _flat(param, grad, square_avg)
    ga = _flat(grad_avg)[0] if centered else sq
    buf = _flat(momentum_buffer)[0] if momentum > 0 else sq
    _over(_numba.kernels().rmsprop, p, p, g, sq, ga, buf, T(lr), T(alpha), w, wc, T(weight_decay),
          T(-1 if maximize else 1), T(eps), bool(centered), T(momentum))


def adadelta_update(xp, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize=False) -> None:
    if not usable(param, grad, square_avg, acc_delta) or grad.shape != param.shape:
        return ref.adadelta_update(xp, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize)
    T = param.dtype.type
    p, g, sq, acc = _flat(param, grad, square_avg, acc_delta)
    _over(_numba.kernels().adadelta, p, p, g, sq, acc, T(lr), T(rho), T(1 - rho), T(weight_decay),
          T(-1 if maximize else 1), T(eps))


UPDATES = {"sgd": sgd_update, "adam": adam_update, "adagrad": adagrad_update, "rmsprop": rmsprop_update,
           "adadelta": adadelta_update}
